/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * wssnoop.h - the records the BPF programs and the loader share.
 *
 * Promise: every record the kernel side writes into the ring buffer is a
 * struct ws_event followed by sample_len bytes of payload. Fixed-width types
 * only; the layout is pinned by the _Static_asserts at the end so that both
 * compilers (clang -target bpf and the host compiler) agree on it.
 */
#ifndef WSSNOOP_H
#define WSSNOOP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Largest sample one event may carry (a power of two: the BPF side masks
 * lengths with WS_SAMPLE_MAX - 1 to convince the verifier). */
#define WS_SAMPLE_MAX 16384
/* Default budget of bytes sampled from the start of a request head. */
#define WS_REQUEST_SAMPLE_DEFAULT 4096
/* Budget of bytes sampled from the start of an answer head. */
#define WS_ANSWER_SAMPLE_DEFAULT 1024
/* Budget of an answer that is not a 101: only its status line is judged, so
 * the body of a busy port's ordinary answers is never copied. */
#define WS_ANSWER_STATUS_SAMPLE 256
#define WS_COMM_LEN 16

enum ws_event_type {
	WS_EV_DATA = 1,	 /* a sampled segment (or read/write) of a watched connection */
	WS_EV_OWNER = 2, /* the process that reads or writes a watched socket */
	WS_EV_CLOSE = 3, /* the socket reached TCP_CLOSE (with its endpoints, when the
			    packet path made it: a pre-accept connection is found by them) */
	WS_EV_BATCH = 4, /* a struct ws_batch: records staged on one CPU, flushed together */
};

enum ws_dir {
	WS_DIR_IN = 0,	/* towards the server: requests */
	WS_DIR_OUT = 1, /* from the server: answers */
};

enum ws_data_flag {
	WS_F_HEAD_START = 1 << 0, /* first bytes may start a head (first payload, method token, "HTTP/") */
	WS_F_FIRST = 1 << 1,	  /* first payload seen in this direction of the connection */
	WS_F_CONT = 1 << 2,	  /* continuation within the budget of the head started before */
	WS_F_CUT = 1 << 3,	  /* sample shorter than the segment's payload */
	WS_F_FIN = 1 << 4,	  /* segment carries FIN */
	WS_F_RST = 1 << 5,	  /* segment carries RST */
	WS_F_STREAM = 1 << 6,	  /* seq is a byte offset in the stream (syscall capture), not a TCP seq */
	WS_F_LIFETIME = 1 << 7,	  /* data[] holds a struct ws_lifetime, not payload bytes */
	WS_F_STATUS_ONLY = 1 << 8, /* an answer head that is not a 101: budget WS_ANSWER_STATUS_SAMPLE */
	WS_F_PRE_ACCEPT = 1 << 9,  /* reached the listening socket (final ACK dropped: accept queue full);
				      cookie is ws_pre_accept_cookie() of the 4-tuple */
};

/* Where the process attribution of an event comes from, best first. */
enum ws_owner_source {
	WS_OWNER_NONE = 0,
	WS_OWNER_SOCK_TP = 1, /* sock:sock_recv_length (or sock_send_length), process context */
	WS_OWNER_EGRESS = 2,  /* cgroup_skb egress runs in the sender's context */
	WS_OWNER_SYSCALL = 3, /* syscall tracepoints, process context */
	WS_OWNER_PROC = 4,    /* user space matched the socket in /proc (inferred) */
	WS_OWNER_TCP_TP = 5,  /* tcp:tcp_rcv_space_adjust (every TCP read), process context */
};

/* Counters the BPF side keeps in a per-CPU array, summed by user space. */
enum ws_counter {
	WS_CNT_SEGMENTS = 0,	/* payload segments on watched ports */
	WS_CNT_SAMPLED,		/* segments copied into the ring buffer */
	WS_CNT_LOST,		/* events the ring buffer had no room for */
	WS_CNT_CUT,		/* samples shorter than the segment (budget or WS_SAMPLE_MAX) */
	WS_CNT_NO_STORAGE,	/* socket storage could not be had */
	WS_CNT_NOT_TCP,		/* watched-port packets whose TCP header could not be read */
	WS_CNT_OWNER,		/* owner events sent */
	WS_CNT_CLOSE,		/* close events sent */
	WS_CNT_UNCLASSIFIED,	/* segments of upgraded connections whose frames could not be followed */
	WS_CNT_EMITTED,		/* events written into the ring buffer (sent = emitted + lost) */
	WS_CNT_SENT_UNOWNED,	/* server-side records of segments sent outside a task holding the socket */
	WS_CNT__MAX,
};

/* What the kernel side learns about an upgraded connection (after a 101),
 * sent with each FIN or RST segment of it. Indexed by enum ws_dir. */
struct ws_lifetime {
	__u64 upgraded_ns;	 /* when the 101 left */
	__u64 last_data_ns[2];	 /* last payload each way */
	__u64 bytes[2];		 /* payload bytes each way after the 101 */
	__u64 first_close_ns;	 /* first FIN or RST */
	__u64 close_frame_ns[2]; /* Close frame each way, 0 if none */
	__u64 last_ping_ns[2];
	__u64 prev_ping_ns[2];	 /* the ping before the last: their gap is the interval */
	__u32 frames[2];
	__u32 pings[2];
	__u32 pongs[2];
	__u32 unclassified[2];	 /* segments where frame boundaries were lost */
	__u16 close_code[2];	 /* code of the Close frame each way (1005: none given) */
	__u8 closer;		 /* direction of the first FIN or RST, WS_DIR_NONE if none */
	__u8 closed_by_rst;
	__u8 reserved[3];
};

#define WS_DIR_NONE 0xff

struct ws_event {
	__u8 type;	   /* enum ws_event_type */
	__u8 dir;	   /* enum ws_dir */
	__u8 family;	   /* AF_INET or AF_INET6 */
	__u8 owner_source; /* enum ws_owner_source of tgid/tid/comm, or NONE */
	__u16 flags;	   /* enum ws_data_flag */
	__u16 local_port;  /* host byte order */
	__u16 remote_port; /* host byte order */
	__u16 reserved;
	__u32 sample_len;  /* bytes of data[] that follow */
	__u32 payload_len; /* bytes of payload in the segment */
	__u32 seq;	   /* sequence number of the first payload byte */
	__u32 tgid;
	__u32 tid;
	__u64 cookie; /* the connection's identity: see ws_cookie_unique() */
	__u64 ts_ns;  /* CLOCK_MONOTONIC: bpf_ktime_get_ns(), or TCP's stamp on a segment it sent */
	__u64 cgroup_id;
	__u8 local_addr[16]; /* IPv4 in the first four bytes */
	__u8 remote_addr[16];
	char comm[WS_COMM_LEN];
	__u8 data[];
};

/*
 * Records staged on one CPU and written to the ring buffer together, so that
 * the ring's per-record work (reserving under its lock, committing, the
 * wakeup test: measured at about 500 ns a sampled segment) is paid once per
 * batch. A batch is this
 * header and then `records` records, each a struct ws_event with sample_len
 * bytes, padded to a multiple of 8. Records of different CPUs reach user space
 * out of time order; the loader puts them back in order by ts_ns.
 */
struct ws_batch {
	__u8 type; /* WS_EV_BATCH */
	__u8 reserved[3];
	__u32 cpu;
	__u32 records;
	__u32 bytes; /* of the records that follow this header */
};

/* How much one CPU stages before it writes the batch out. */
#define WS_STAGE_BYTES 16384
/* Samples larger than this skip the stage and take a ring record of their own. */
#define WS_STAGE_SAMPLE_MAX 4096
/* CPUs whose stages the loader can see filling (stage_dirty[]); the stages
 * of CPUs beyond are flushed on every round. */
#define WS_STAGE_DIRTY_CPUS 1024

static inline __u32 ws_staged_size(__u32 sample_len)
{
	return (__u32)sizeof(struct ws_event) + ((sample_len + 7) & ~7u);
}

/* A record's cookie is the kernel's socket cookie, a counter never reused
 * while the system runs (bit 63 clear), or a stand-in with bit 63 set that
 * another connection may have later: ws_pre_accept_cookie() of a 4-tuple, or
 * the socket's kernel address in the syscall capture (where no socket-level
 * program made a cookie). */
static inline int ws_cookie_unique(__u64 cookie)
{
	return !(cookie >> 63);
}

/*
 * The stand-in identity of a connection whose segments reach the listening
 * socket, before its own socket exists (the accept queue was full when the
 * final ACK came, so the first data creates it): a mix of the 4-tuple with
 * the top bit set, which socket cookies (a counter from 1) never reach. Both
 * sides compute it: user space finds such a connection again under it when
 * the connection's own cookie first appears. Addresses as in ws_event.
 */
static inline __u64 ws_pre_accept_cookie(const __u8 local_addr[16], const __u8 remote_addr[16], __u16 local_port,
					 __u16 remote_port)
{
	__u64 h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < 16; i++) {
		h = (h ^ local_addr[i]) * 0x100000001b3ULL;
		h = (h ^ remote_addr[i]) * 0x100000001b3ULL;
	}
	h = (h ^ local_port) * 0x100000001b3ULL;
	h = (h ^ remote_port) * 0x100000001b3ULL;
	return h | 1ULL << 63;
}

_Static_assert(sizeof(struct ws_event) == 104, "ws_event layout changed");
_Static_assert(sizeof(struct ws_batch) == 16, "ws_batch layout changed");
_Static_assert(sizeof(struct ws_lifetime) == 144, "ws_lifetime layout changed");
_Static_assert(__builtin_offsetof(struct ws_lifetime, frames) == 96, "ws_lifetime.frames moved");
_Static_assert(__builtin_offsetof(struct ws_lifetime, close_code) == 128, "ws_lifetime.close_code moved");
_Static_assert(__builtin_offsetof(struct ws_event, seq) == 20, "ws_event.seq moved");
_Static_assert(__builtin_offsetof(struct ws_event, cookie) == 32, "ws_event.cookie moved");
_Static_assert(__builtin_offsetof(struct ws_event, local_addr) == 56, "ws_event.local_addr moved");
_Static_assert(__builtin_offsetof(struct ws_event, data) == 104, "ws_event.data moved");

#endif /* WSSNOOP_H */
