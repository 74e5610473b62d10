// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wssnoop.bpf.c - socket-level capture (the default).
 *
 * cgroup_skb ingress/egress programs see every IP packet of the sockets in a
 * cgroup subtree. For a watched local port they copy a bounded prefix of the
 * segments where an HTTP head can start (requests inbound, answers outbound)
 * with the TCP sequence number; everything else costs a table lookup.
 * The egress path names the thread that sends, where the kernel lets it ask
 * (fill_owner()). Tracepoints add what the packet path cannot know: when the
 * socket is gone (sock:inet_sock_set_state) and, where egress cannot ask or
 * the user wants the reader of unanswered requests, which thread reads or
 * writes the socket (sock:sock_recv_length / sock_send_length from 6.3,
 * tcp:tcp_rcv_space_adjust before). Records are staged per CPU and reach the ring
 * in batches where the loader can flush them (see stage_slot()); the syscall
 * capture, which shares capture.bpf.h, does not stage.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpf/capture.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define TCP_CLOSE 7

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* bpf_get_current_pid_tgid() is callable from cgroup_skb on this kernel
 * (probed by the loader); egress then runs in the writer's context. */
const volatile bool egress_owner = false;
/* Follow upgraded connections to their end (frames, Close codes, who closed). */
const volatile bool track_lifetime = true;


/*
 * A connection's state, in socket-local storage. The request side runs where
 * the client's segments are received (often the client's CPU, in softirq),
 * the answer side where the server writes (the server's CPU): each direction
 * writes only its own lane, and the lanes lie 128 bytes apart, on cache lines
 * of their own, so that the two CPUs do not take the lines from each other on
 * every segment (measured: the shared line made the storage lookup a third
 * of each sampled segment's cost). What both read (upgraded) is written once.
 */
struct lane {
	struct dir_state head;
	__u32 next_frame;    /* sequence number of the next frame header */
	__u32 high_seq;	     /* end of the highest payload counted */
	__u8 frame_sync;     /* next_frame is known (else the next segment starts a frame) */
	__u8 pad;
	__u16 close_code;    /* of the first Close frame (1005: none given) */
	__u32 frames;
	__u32 pings;
	__u32 pongs;
	__u32 unclassified;  /* segments where frame boundaries were lost */
	__u64 last_data_ns;
	__u64 bytes;
	__u64 close_frame_ns;
	__u64 last_ping_ns;
	__u64 prev_ping_ns;  /* the ping before the last: their gap is the interval */
	__u8 fill[128 - 80];
};

struct conn_state {
	__u8 upgraded;
	__u8 closer;	     /* direction of the first FIN or RST, WS_DIR_NONE if none */
	__u8 closed_by_rst;
	__u8 pad[5];
	__u64 upgraded_ns;
	__u64 first_close_ns;
	__u64 snapshot_ns;   /* when the facts last went to user space */
	/* What a socket never changes, asked for with its first record sent
	 * (the cookie helper alone costs a tenth of a sampled segment here). */
	__u64 cookie;
	__u64 cgroup_id;
	__u8 fill[64 - 48];
	struct lane lane[2];
};

_Static_assert(sizeof(struct lane) == 128, "a lane is two cache lines");
_Static_assert(__builtin_offsetof(struct conn_state, lane) == 64, "lanes start on their own line");

/* An open upgraded connection's facts go to user space at most this often,
 * so that what is open at exit is reported with its figures. */
#define SNAPSHOT_NS (1000ULL * 1000 * 1000)

/* The thread last seen reading or writing each watched connection, by
 * socket cookie: an owner record goes out only when it changes. A hash map
 * rather than socket storage, which tracing programs get only from 5.11. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* Where the TCP header is, and what the segment carries. Cheap: it runs for
 * every packet of a watched port, pure ACKs included. */
static __always_inline int locate_tcp(struct __sk_buff *skb, struct tcphdr **tcp_out, __u32 *payload_off,
				      __u16 *tcp_flags)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tcphdr *tcp;
	__u32 l4off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return -1;
		l4off = ip->ihl * 4;
		if (l4off < sizeof(*ip))
			return -1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		/* Extension headers before TCP are not followed: counted, not sampled. */
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return -1;
		l4off = sizeof(*ip6);
	} else {
		return -1;
	}
	if (l4off > 60)
		return -1;
	tcp = data + l4off;
	if ((void *)(tcp + 1) > end)
		return -1;
	*tcp_out = tcp;
	*tcp_flags = (tcp->fin ? WS_F_FIN : 0) | (tcp->rst ? WS_F_RST : 0);
	*payload_off = l4off + tcp->doff * 4;
	return 0;
}

/* The addresses and ports of the segment, from the server's point of view. */
static __always_inline void fill_endpoints(struct __sk_buff *skb, __u32 ports, int dir, struct ws_event *ev)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			return;
		ev->family = AF_INET;
		__builtin_memset(ev->local_addr, 0, sizeof(ev->local_addr));
		__builtin_memset(ev->remote_addr, 0, sizeof(ev->remote_addr));
		__builtin_memcpy(ev->local_addr, dir == WS_DIR_IN ? &ip->daddr : &ip->saddr, 4);
		__builtin_memcpy(ev->remote_addr, dir == WS_DIR_IN ? &ip->saddr : &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return;
		ev->family = AF_INET6;
		__builtin_memcpy(ev->local_addr, dir == WS_DIR_IN ? &ip6->daddr : &ip6->saddr, 16);
		__builtin_memcpy(ev->remote_addr, dir == WS_DIR_IN ? &ip6->saddr : &ip6->daddr, 16);
	}
	ev->local_port = dir == WS_DIR_IN ? ports & 0xffff : ports >> 16;
	ev->remote_port = dir == WS_DIR_IN ? ports >> 16 : ports & 0xffff;
}

/* The sending socket, on the egress path where the kernel lets it be asked
 * for: its lock says who owns it (sender_locked()), its pacing whether its
 * segments carry the time they were sent (segment_time()). Both are read at
 * the top of the run, so that no socket pointer that may be NULL lives on
 * through the rest of it (the verifier would follow it both ways). */
static __always_inline struct tcp_sock *sender(struct __sk_buff *skb, int dir)
{
	struct bpf_sock *sk = skb->sk;

	if (dir != WS_DIR_OUT || !egress_owner || !sk)
		return NULL;
	return bpf_skc_to_tcp_sock(sk);
}

/* The egress path runs in the writer's context when a task holding the
 * socket sends (write, close, the backlog it works off): that task owns the
 * socket. A segment sent later from softirq (the window opened, a timer, TCP
 * small queues) runs in whatever task the softirq interrupted, often the
 * peer's: the socket is not locked by a task then, and says nothing. */
enum sender_lock { NOT_ASKED = -1, UNLOCKED = 0, LOCKED = 1 };

static __always_inline int sender_locked(struct tcp_sock *tp)
{
	if (!tp)
		return NOT_ASKED;
	return tp->inet_conn.icsk_inet.sk.sk_lock.owned ? LOCKED : UNLOCKED;
}

static __always_inline void fill_owner(int locked, struct ws_event *ev)
{
	__u64 id;

	ev->owner_source = WS_OWNER_NONE;
	ev->tgid = 0;
	ev->tid = 0;
	ev->comm[0] = 0;
	if (locked == NOT_ASKED)
		return;
	if (locked == UNLOCKED) {
		count(WS_CNT_SENT_UNOWNED);
		return;
	}
	id = bpf_get_current_pid_tgid();
	if (id >> 32) {
		ev->tgid = id >> 32;
		ev->tid = (__u32)id;
		ev->owner_source = WS_OWNER_EGRESS;
	}
}

/* The time of a segment. TCP stamps each segment it sends with the clock it
 * read as it began to send (tcp_clock_ns(), CLOCK_MONOTONIC like
 * bpf_ktime_get_ns()): the same time, without reading the clock again, which
 * costs 30-40 ns under kvm-clock (measured). TCP's own pacing (BBR) holds a
 * segment back until that time has come; a socket paced by the fq qdisc
 * stamps when the segment is due to leave, which may lie ahead, and there
 * the clock is read. */
static __always_inline __u64 segment_time(struct __sk_buff *skb, struct tcp_sock *tp)
{
	__u64 stamp;

	if (tp && tp->inet_conn.icsk_inet.sk.sk_pacing_status != SK_PACING_FQ) {
		stamp = skb->tstamp;
		if (stamp)
			return stamp;
	}
	return bpf_ktime_get_ns();
}

/* Do a sample's last four bytes end a head? m is its length, known to the
 * verifier to lie in [1, room]. */
static __always_inline bool sample_ends_head(const __u8 *sample, __u32 m)
{
	const __u8 *t;

	if (m < 4)
		return false;
	t = sample + m - 4;
	return t[0] == '\r' && t[1] == '\n' && t[2] == '\r' && t[3] == '\n';
}

/* An answer head that starts "HTTP/1.x 101" switches the connection to
 * WebSocket frames: from here on its segments are followed, not sampled. */
static __always_inline void note_upgrade(struct conn_state *st, const __u8 *line, __u32 line_len, __u32 seq,
					 __u32 payload_len, __u64 now)
{
	struct lane *out = &st->lane[WS_DIR_OUT];

	if (!says_101(line, line_len))
		return;
	st->upgraded = 1;
	st->upgraded_ns = now;
	st->closer = WS_DIR_NONE;
	st->snapshot_ns = now;
	st->lane[WS_DIR_IN].frame_sync = 0;
	out->frame_sync = 0;
	/* Frames written in the same segment as the 101 are not followed
	 * (note_head_end() found no head end at the segment's end): say so. */
	if (out->head.budget_end != seq + payload_len) {
		out->unclassified++;
		count(WS_CNT_UNCLASSIFIED);
	}
}

/* Frame headers are read only where a segment's payload starts: the cost
 * stays one small read per segment. A segment that starts inside a frame
 * continues it; one whose frame boundary lies elsewhere (several frames in
 * one segment) loses the thread until the next segment, counted as
 * unclassified. */
static __noinline void follow_frames(struct __sk_buff *skb, struct lane *l, __u32 seq, __u32 payload_off, __u64 now)
{
	__u32 payload_len = skb->len - payload_off;
	__u32 end = seq + payload_len, hdr, plen;
	__u8 h[16] = {};
	__u8 opcode;

	/* Bytes beyond the highest seen so far: retransmissions count once. */
	if (!l->high_seq)
		l->high_seq = seq;
	if ((__s32)(end - l->high_seq) <= 0)
		return;
	l->bytes += end - ((__s32)(seq - l->high_seq) > 0 ? seq : l->high_seq);
	l->high_seq = end;
	l->last_data_ns = now;

	if (l->frame_sync && seq != l->next_frame) {
		/* Inside a long frame, or a boundary we cannot see. */
		if ((__s32)(l->next_frame - seq) > 0 && (__s32)(l->next_frame - end) >= 0)
			return;
		goto lost;
	}
	/* The longest header is 14 bytes; a short segment holds less. */
	if (payload_len < 2 ||
	    bpf_skb_load_bytes(skb, payload_off, h, payload_len >= 14 ? 14 : ((payload_len - 1) & 15) + 1) < 0)
		goto lost;
	opcode = h[0] & 0x0f;
	/* RSV2/RSV3 are never set by the extensions in use; RSV1 is permessage-deflate. */
	if ((h[0] & 0x30) || (opcode > 2 && opcode < 8) || opcode > 10)
		goto lost;
	plen = h[1] & 0x7f;
	hdr = 2;
	if (plen == 126) {
		plen = (__u32)h[2] << 8 | h[3];
		hdr = 4;
	} else if (plen == 127) {
		/* Frames past 4 GiB do not occur in practice; the high bytes are dropped. */
		plen = (__u32)h[6] << 24 | (__u32)h[7] << 16 | (__u32)h[8] << 8 | h[9];
		hdr = 10;
	}
	if (h[1] & 0x80)
		hdr += 4;
	if (hdr > payload_len)
		goto lost;
	l->frames++;
	if (opcode == 9) {
		l->pings++;
		l->prev_ping_ns = l->last_ping_ns;
		l->last_ping_ns = now;
	} else if (opcode == 10) {
		l->pongs++;
	} else if (opcode == 8 && !l->close_frame_ns) {
		__u8 code[2] = {};

		l->close_frame_ns = now;
		l->close_code = 1005;
		if (plen >= 2 && hdr + 2 <= payload_len && !bpf_skb_load_bytes(skb, payload_off + (hdr & 15), code, 2)) {
			if (h[1] & 0x80) {
				/* Client frames are masked: the key is the header's last four bytes. */
				if (hdr == 6) {
					code[0] ^= h[2];
					code[1] ^= h[3];
				} else if (hdr == 8) {
					code[0] ^= h[4];
					code[1] ^= h[5];
				} else {
					code[0] ^= h[10];
					code[1] ^= h[11];
				}
			}
			l->close_code = (__u16)code[0] << 8 | code[1];
		}
	}
	l->next_frame = seq + hdr + plen;
	l->frame_sync = 1;
	if ((__s32)(l->next_frame - end) < 0)
		goto lost; /* another frame starts inside this segment */
	return;
lost:
	l->unclassified++;
	l->frame_sync = 0;
	count(WS_CNT_UNCLASSIFIED);
}

/* The connection's facts in the record user space reads. */
static __always_inline void fill_lifetime(struct ws_lifetime *life, const struct conn_state *st)
{
	int d;

	life->upgraded_ns = st->upgraded_ns;
	life->first_close_ns = st->first_close_ns;
	life->closer = st->closer;
	life->closed_by_rst = st->closed_by_rst;
	life->reserved[0] = life->reserved[1] = life->reserved[2] = 0;
	for (d = 0; d < 2; d++) {
		const struct lane *l = &st->lane[d];

		life->last_data_ns[d] = l->last_data_ns;
		life->bytes[d] = l->bytes;
		life->close_frame_ns[d] = l->close_frame_ns;
		life->last_ping_ns[d] = l->last_ping_ns;
		life->prev_ping_ns[d] = l->prev_ping_ns;
		life->frames[d] = l->frames;
		life->pings[d] = l->pings;
		life->pongs[d] = l->pongs;
		life->unclassified[d] = l->unclassified;
		life->close_code[d] = l->close_code;
	}
}

/*
 * Per-CPU staging (struct ws_batch): records gathered in this CPU's stage and
 * written to the ring together when it is full or when the loader runs
 * wssnoop_flush on this CPU. Set by the loader where it can run the flush.
 */
const volatile bool staging = false;

/* Set when a CPU's stage takes its first record, cleared by the loader before
 * it flushes that stage: the loader runs the flush only on CPUs with
 * something staged, and idle CPUs are left alone. */
__u8 stage_dirty[WS_STAGE_DIRTY_CPUS];

/* The first bytes of a segment are copied into its place in the stage before
 * anything is decided (handle_skb()): a request head of up to this many bytes
 * is then copied once, and an answer's status-line sample whole. */
#define PEEK_REQUEST 1024
#define PEEK_ANSWER WS_ANSWER_STATUS_SAMPLE

/* One CPU's staged records: data[] is a struct ws_batch and then the records.
 * A record starts below WS_STAGE_BYTES and may run on past it: the room
 * beyond lets the verifier see that the largest, its peeked bytes and the
 * rest loaded after them, fits wherever it starts. */
struct stage {
	__u32 busy;    /* programs of this CPU inside the stage (see stage_enter) */
	__u32 len;     /* bytes of data[] in use, the batch header included; 0: empty */
	__u32 records;
	__u32 pad;
	__u8 data[WS_STAGE_BYTES + sizeof(struct ws_event) + PEEK_REQUEST + WS_STAGE_SAMPLE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stage);
} stages SEC(".maps");

/* Take this CPU's stage, or NULL when another program of this CPU is in it
 * (one this run interrupted, or preempted): that run then writes to the ring
 * directly. */
static __always_inline struct stage *stage_enter(void)
{
	__u32 zero = 0;
	struct stage *sg = bpf_map_lookup_elem(&stages, &zero);

	return sg && busy_take(&sg->busy) ? sg : NULL;
}

static __always_inline void stage_exit(struct stage *sg)
{
	busy_give(&sg->busy);
}

/* Write the staged records to the ring as one batch and empty the stage. */
static __always_inline void stage_flush(struct stage *sg)
{
	struct ws_batch *b = (void *)sg->data;
	__u32 len = sg->len;

	if (!sg->records)
		return;
	if (len > sizeof(sg->data)) /* never; for the verifier */
		len = sizeof(sg->data);
	b->type = WS_EV_BATCH;
	b->reserved[0] = b->reserved[1] = b->reserved[2] = 0;
	b->cpu = bpf_get_smp_processor_id();
	b->records = sg->records;
	b->bytes = len - sizeof(*b);
	ring_output(b, len, sg->records);
	sg->len = 0;
	sg->records = 0;
}

/* Where the next record goes in a stage this run holds. Once the stage holds
 * WS_STAGE_BYTES or more it is written out first, so a record always starts
 * below that. */
static __always_inline struct ws_event *stage_slot(struct stage *sg)
{
	if (sg->len >= WS_STAGE_BYTES)
		stage_flush(sg);
	if (!sg->records)
		sg->len = sizeof(struct ws_batch);
	/* Below WS_STAGE_BYTES already; the mask says so to the verifier. */
	return (void *)(sg->data + (sg->len & (WS_STAGE_BYTES - 1)));
}

/* The record written at the slot, with n sample bytes, joins the batch. A
 * slot peeked into and then not used says nothing to the loader. */
static __always_inline void stage_commit(struct stage *sg, __u32 n)
{
	__u32 cpu;

	sg->len = (sg->len & (WS_STAGE_BYTES - 1)) + ws_staged_size(n);
	if (!sg->records++) {
		cpu = bpf_get_smp_processor_id();
		if (cpu < WS_STAGE_DIRTY_CPUS)
			stage_dirty[cpu] = 1;
	}
}

/* An event without sample bytes: staged where it can be, else its own record. */
static __always_inline void send_event(const struct ws_event *ev)
{
	struct stage *sg = staging ? stage_enter() : NULL;
	struct ws_event *rec;

	if (!sg) {
		emit_event(ev);
		return;
	}
	rec = stage_slot(sg);
	*rec = *ev;
	rec->sample_len = 0;
	stage_commit(sg, 0);
	stage_exit(sg);
}

/* How many of a segment's first bytes are peeked into its slot: in [1, PEEK_REQUEST]. */
static __always_inline __u32 peek_len(__u32 payload_len, int dir)
{
	__u32 cap = dir == WS_DIR_IN ? PEEK_REQUEST : PEEK_ANSWER;

	return ((payload_len < cap ? payload_len : cap) - 1) % PEEK_REQUEST + 1;
}

/* Complete a sample of n bytes whose first peek bytes are in the slot
 * already: the rest from the packet, then whether it ends a head (read from
 * the copy, not from the packet again). */
static __always_inline bool fill_slot(struct __sk_buff *skb, struct ws_event *slot, __u32 off, __u32 n,
				      __u32 peek, bool *ends)
{
	__u8 *sample = (__u8 *)(slot + 1);

	if (n > peek && bpf_skb_load_bytes(skb, off + peek, sample + peek,
					   (n - peek - 1) % WS_STAGE_SAMPLE_MAX + 1) < 0)
		return false;
	*ends = sample_ends_head(sample, (n - 1) % WS_STAGE_SAMPLE_MAX + 1);
	return true;
}

/* A sampled segment goes straight from the packet into its ring record: no
 * per-CPU scratch copy in between (which a softirq on the same CPU could
 * overwrite half-way) and one copy less. The verifier wants the record's
 * size constant, so records come in power-of-two classes of sample room
 * (cap); sample_len says how much of it holds bytes. Kept to the least that
 * must differ by class: each class is verified on its own. */
static __always_inline void send_sample(struct __sk_buff *skb, const struct ws_event *hdr, __u32 off, __u32 n,
					__u32 cap, __u64 wake, bool *ends)
{
	struct ws_event *rec = bpf_ringbuf_reserve(&events, sizeof(*rec) + cap, 0);
	__u32 m = ((n - 1) & (cap - 1)) + 1;

	if (!rec) {
		count(WS_CNT_LOST);
		return;
	}
	*rec = *hdr;
	rec->sample_len = n;
	/* n is in [1, cap]; m says so in a form the verifier keeps. */
	if (bpf_skb_load_bytes(skb, off, rec + 1, m) < 0) {
		bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
		count(WS_CNT_LOST);
		return;
	}
	*ends = sample_ends_head((const __u8 *)(rec + 1), m);
	count(WS_CNT_EMITTED);
	bpf_ringbuf_submit(rec, wake);
}

/* The smallest class of sample room that holds n bytes. */
static __always_inline __u32 sample_class(__u32 n)
{
	__u32 cap = 128;

	if (n > 128)
		cap = n <= 256 ? 256 : n <= 512 ? 512 : n <= 1024 ? 1024 : n <= 2048 ? 2048 : n <= 4096 ? 4096 :
		      n <= 8192 ? 8192 : WS_SAMPLE_MAX;
	return cap;
}

struct lifetime_record {
	struct ws_event ev;
	struct ws_lifetime life;
};

static __always_inline void send_lifetime(const struct ws_event *hdr, const struct conn_state *st)
{
	struct lifetime_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);

	if (!rec) {
		count(WS_CNT_LOST);
		return;
	}
	rec->ev = *hdr;
	rec->ev.sample_len = sizeof(rec->life);
	fill_lifetime(&rec->life, st);
	count(WS_CNT_EMITTED);
	bpf_ringbuf_submit(rec, wake_flags(sizeof(*rec)));
}

/* A segment of a watched port (the caller tested skb->local_port). */
static __always_inline int handle_skb(struct __sk_buff *skb, int dir)
{
	struct conn_state *st = NULL;
	struct lane *lane = NULL;
	struct ws_event hdr = {};
	struct stage *sg = NULL;
	struct ws_event *slot = NULL;
	__u32 peek = 0;
	struct bpf_sock *sk;
	bool head_ends = false;
	int locked;
	struct tcphdr *tcp;
	__u32 payload_off, payload_len = 0, seq, ports, first_len, n = 0;
	__u16 tcp_flags, flags = 0;
	__u8 first[16] = {};
	__u64 now, wake;
	__u32 cap;

	if (locate_tcp(skb, &tcp, &payload_off, &tcp_flags) < 0) {
		count(WS_CNT_NOT_TCP);
		return 1;
	}
	if (payload_off < skb->len)
		payload_len = skb->len - payload_off;
	else if (!tcp_flags)
		return 1; /* a pure ACK */
	seq = bpf_ntohl(tcp->seq);
	/* Source port high, destination low; the addresses are read only for
	 * a segment that is sent (fill_endpoints()). */
	ports = (__u32)bpf_ntohs(tcp->source) << 16 | bpf_ntohs(tcp->dest);

	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	/* Data that reaches the listening socket belongs to a connection whose
	 * socket does not exist yet (the accept queue was full when its final
	 * ACK came): it has no state of its own, and the listener's cookie
	 * would merge it with every other such connection. */
	if (sk && sk->state == BPF_TCP_LISTEN) {
		flags = WS_F_PRE_ACCEPT;
		sk = NULL;
	}
	if (sk)
		st = bpf_sk_storage_get(&conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		lane = &st->lane[dir & 1];
		/* Keep the compiler from forming the address before the NULL test. */
		barrier_var(lane);
	}
	{
		struct tcp_sock *tp = sender(skb, dir);

		now = segment_time(skb, tp);
		locked = sender_locked(tp);
	}

	if (st && st->upgraded) {
		/* After the 101: frames and the end, never samples. */
		if (payload_len)
			follow_frames(skb, lane, seq, payload_off, now);
		if (!tcp_flags) {
			if (now - st->snapshot_ns < SNAPSHOT_NS)
				return 1;
			st->snapshot_ns = now;
		} else if (st->closer == WS_DIR_NONE) {
			st->closer = dir;
			st->closed_by_rst = !!(tcp_flags & WS_F_RST);
			st->first_close_ns = now;
		}
		flags = WS_F_LIFETIME;
		goto send;
	}
	if (payload_len) {
		count(WS_CNT_SEGMENTS);
		if (!st)
			count(WS_CNT_NO_STORAGE);
		/* Enough for a method token, or for "HTTP/1.1 101". */
		first_len = payload_len < 12 ? payload_len : 12;
		/* Where this CPU's stage can be had, the first bytes go straight
		 * into the place of the record they may become: a head that fits
		 * the peek is copied once. The stage stays this run's until done. */
		sg = staging ? stage_enter() : NULL;
		if (sg) {
			slot = stage_slot(sg);
			peek = peek_len(payload_len, dir);
			if (bpf_skb_load_bytes(skb, payload_off, slot + 1, peek) < 0)
				goto done;
			__builtin_memcpy(first, slot + 1, sizeof(first));
		} else if (bpf_skb_load_bytes(skb, payload_off, first, ((first_len - 1) & 15) + 1) < 0) {
			return 1;
		}
		if (lane) {
			n = plan_sample(&lane->head, seq, payload_len, first, first_len, dir, &flags);
		} else if (head_start_word(first, first_len, dir)) {
			/* Without state, sample what may start a head. */
			__u32 budget = head_budget(first, first_len, dir, &flags);

			flags |= WS_F_HEAD_START;
			n = payload_len;
			if (n > budget) {
				n = budget;
				flags |= WS_F_CUT;
			}
		}
		if (!n && !tcp_flags)
			goto done;
	}
	if (n > WS_SAMPLE_MAX) {
		n = WS_SAMPLE_MAX;
		flags |= WS_F_CUT;
	}
	/* A status-line sample is short by design, not cut. */
	if ((flags & (WS_F_CUT | WS_F_STATUS_ONLY)) == WS_F_CUT)
		count(WS_CNT_CUT);
send:
	fill_endpoints(skb, ports, dir, &hdr);
	hdr.type = WS_EV_DATA;
	hdr.dir = dir;
	hdr.flags = flags | tcp_flags;
	hdr.payload_len = payload_len;
	hdr.seq = seq;
	/* Every record carries the cgroup: user space needs it with every
	 * request (a connection it forgot while idle comes back with one). */
	if (st) {
		if (!st->cookie) {
			st->cookie = bpf_get_socket_cookie(skb);
			st->cgroup_id = bpf_skb_cgroup_id(skb);
		}
		hdr.cookie = st->cookie;
		hdr.cgroup_id = st->cgroup_id;
	} else {
		hdr.cookie = flags & WS_F_PRE_ACCEPT ? ws_pre_accept_cookie(hdr.local_addr, hdr.remote_addr,
									    hdr.local_port, hdr.remote_port)
						     : bpf_get_socket_cookie(skb);
		hdr.cgroup_id = bpf_skb_cgroup_id(skb);
	}
	hdr.ts_ns = now;
	fill_owner(locked, &hdr);
	if (flags & WS_F_LIFETIME) {
		if (st)
			send_lifetime(&hdr, st);
		return 1;
	}
	if (n)
		count(WS_CNT_SAMPLED); /* chosen to be sampled, whether or not there is room */
	if (sg) {
		/* The record is written where its first bytes already are; one
		 * too large for the stage takes a ring record of its own. */
		if (n <= WS_STAGE_SAMPLE_MAX) {
			*slot = hdr;
			slot->sample_len = n;
			if (!n || fill_slot(skb, slot, payload_off, n, peek, &head_ends))
				stage_commit(sg, n);
			else
				count(WS_CNT_LOST);
		}
		/* Let go of the stage here, so that what follows is the same run
		 * for every way of sending, not verified once for each. */
		stage_exit(sg);
		sg = NULL;
		if (n <= WS_STAGE_SAMPLE_MAX)
			goto sent;
	} else if (!n) {
		send_event(&hdr);
		return 1;
	}
	cap = sample_class(n);
	wake = wake_flags(sizeof(struct ws_event) + cap);
	if (cap == 128)
		send_sample(skb, &hdr, payload_off, n, 128, wake, &head_ends);
	else if (cap == 256)
		send_sample(skb, &hdr, payload_off, n, 256, wake, &head_ends);
	else if (cap == 512)
		send_sample(skb, &hdr, payload_off, n, 512, wake, &head_ends);
	else if (cap == 1024)
		send_sample(skb, &hdr, payload_off, n, 1024, wake, &head_ends);
	else if (cap == 2048)
		send_sample(skb, &hdr, payload_off, n, 2048, wake, &head_ends);
	else if (cap == 4096)
		send_sample(skb, &hdr, payload_off, n, 4096, wake, &head_ends);
	else if (cap == 8192)
		send_sample(skb, &hdr, payload_off, n, 8192, wake, &head_ends);
	else
		send_sample(skb, &hdr, payload_off, n, WS_SAMPLE_MAX, wake, &head_ends);
sent:
	/* The head ends with the segment: stop the window there. */
	if (lane && head_ends && may_end_window(flags, n, payload_len))
		lane->head.budget_end = seq + n;
	/* After the window was cut at the head's end, if the 101's head ends with its segment. */
	if (st && track_lifetime && dir == WS_DIR_OUT && (flags & WS_F_HEAD_START))
		note_upgrade(st, first, first_len, seq, payload_len, now);
done:
	if (sg)
		stage_exit(sg);
	return 1;
}

/* Every packet of the cgroup's sockets passes here: the port test comes
 * first, before handle_skb() zeroes its records (which the compiler puts at
 * the top of the function they are declared in). */
SEC("cgroup_skb/ingress")
int wssnoop_ingress(struct __sk_buff *skb)
{
	if (!port_watched(skb->local_port))
		return 1;
	return handle_skb(skb, WS_DIR_IN);
}

SEC("cgroup_skb/egress")
int wssnoop_egress(struct __sk_buff *skb)
{
	if (!port_watched(skb->local_port))
		return 1;
	return handle_skb(skb, WS_DIR_OUT);
}

/* Run by the loader on each CPU in turn (BPF_PROG_TEST_RUN on that CPU), so
 * that staged records do not wait for their stage to fill. Returns 1 when the
 * stage was taken by a run this one interrupted: the loader asks again. */
SEC("raw_tp")
int wssnoop_flush(void *ctx)
{
	struct stage *sg = stage_enter();

	if (!sg)
		return 1;
	stage_flush(sg);
	stage_exit(sg);
	return 0;
}

/* The local port of a socket. inet_sport, unlike skc_num, survives the
 * unhashing that precedes TCP_CLOSE. */
static __always_inline __u16 local_port(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

/* A process read from or wrote to a watched socket: tell user space when it
 * is a new one. Runs in process context. */
static __always_inline int note_owner(struct sock *sk, int ret, __u8 source)
{
	struct ws_event ev = {};
	__u64 cookie, id;
	__u32 tid, *last;

	/* Runs on every socket read and write of the host: plain loads through
	 * the tracepoint's BTF pointer, no probe_read. skc_num is the local port
	 * of a socket that is still hashed, which a socket being used is. */
	if (ret <= 0)
		return 0;
	/* A socket the packet path never sampled has no cookie yet: most of
	 * them, and the test reads the socket this read has just used, where
	 * the port table's page may be cold. */
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie || !port_watched(sk->__sk_common.skc_num))
		return 0;
	id = bpf_get_current_pid_tgid();
	tid = (__u32)id;
	last = bpf_map_lookup_elem(&owners, &cookie);
	if (last && *last == tid)
		return 0;
	bpf_map_update_elem(&owners, &cookie, &tid, BPF_ANY);
	ev.type = WS_EV_OWNER;
	ev.owner_source = source;
	ev.tgid = id >> 32;
	ev.tid = tid;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	ev.cookie = cookie;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.local_port = local_port(sk);
	count(WS_CNT_OWNER);
	send_event(&ev);
	return 0;
}

/* 6.3 and later: every socket read and write, in the caller's context. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(wssnoop_sock_recv, struct sock *sk, int ret, int flags)
{
	return note_owner(sk, ret, WS_OWNER_SOCK_TP);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(wssnoop_sock_send, struct sock *sk, int ret, int flags)
{
	return note_owner(sk, ret, WS_OWNER_SOCK_TP);
}

/* Older kernels: tcp_recvmsg() adjusts the receive space on every read,
 * in the reader's context. */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(wssnoop_tcp_rcv, struct sock *sk)
{
	return note_owner(sk, 1, WS_OWNER_TCP_TP);
}

/* The end of a watched connection. The cookie is the one the packet path
 * asked for; a socket it never saw has none and is of no interest. The
 * endpoints let user space end a connection it knows only by them: one whose
 * data reached the listening socket, and that the server closed without a
 * word. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(wssnoop_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct ws_event ev = {};
	__u64 cookie;

	if (newstate != TCP_CLOSE || !port_watched(local_port(sk)))
		return 0;
	cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!cookie)
		return 0;
	bpf_map_delete_elem(&owners, &cookie);
	ev.type = WS_EV_CLOSE;
	ev.cookie = cookie;
	ev.ts_ns = bpf_ktime_get_ns();
	ev.local_port = local_port(sk);
	ev.family = sock_endpoints((const struct sock *)sk, ev.local_addr, ev.remote_addr, &ev.remote_port);
	ev.flags = oldstate; /* the state it left, for diagnostics */
	count(WS_CNT_CLOSE);
	send_event(&ev);
	return 0;
}
