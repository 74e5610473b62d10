// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wssnoop.bpf.c - socket-level capture (the default).
 *
 * cgroup_skb ingress/egress programs see every IP packet of the sockets in a
 * cgroup subtree. For a watched local port they copy a bounded prefix of the
 * segments where an HTTP head can start (requests inbound, answers outbound)
 * with the TCP sequence number; everything else costs a table lookup.
 * Tracepoints add what the packet path cannot know: which process reads or
 * writes the socket (sock:sock_recv_length / sock_send_length from 6.3,
 * tcp:tcp_rcv_space_adjust before) and when the socket is gone
 * (sock:inet_sock_set_state).
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


struct conn_state {
	struct dir_state dir[2];
	struct ws_lifetime life;
	__u32 next_frame[2]; /* sequence number of the next frame header each way */
	__u32 high_seq[2];   /* end of the highest payload counted each way */
	__u8 frame_sync[2];  /* next_frame is known (else the next segment starts a frame) */
	__u8 upgraded;
	__u8 pad;
	__u64 snapshot_ns;   /* when the facts last went to user space */
};

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

/* The egress path runs in the writer's context: on kernels without a
 * process-context socket tracepoint that is who owns the socket. */
static __always_inline void fill_owner(struct ws_event *ev, int dir)
{
	__u64 id;

	ev->owner_source = WS_OWNER_NONE;
	ev->tgid = 0;
	ev->tid = 0;
	ev->comm[0] = 0;
	if (dir != WS_DIR_OUT || !egress_owner)
		return;
	id = bpf_get_current_pid_tgid();
	if (id >> 32) {
		ev->tgid = id >> 32;
		ev->tid = (__u32)id;
		ev->owner_source = WS_OWNER_EGRESS;
	}
}

/* An answer head that starts "HTTP/1.x 101" switches the connection to
 * WebSocket frames: from here on its segments are followed, not sampled. */
static __always_inline void note_upgrade(struct __sk_buff *skb, struct conn_state *st, __u32 seq, __u32 payload_off,
					 __u32 payload_len, __u64 now)
{
	__u8 line[12];

	if (payload_len < sizeof(line) || bpf_skb_load_bytes(skb, payload_off, line, sizeof(line)) < 0)
		return;
	if (line[8] != ' ' || line[9] != '1' || line[10] != '0' || line[11] != '1')
		return;
	st->upgraded = 1;
	st->life.upgraded_ns = now;
	st->life.closer = WS_DIR_NONE;
	st->frame_sync[0] = st->frame_sync[1] = 0;
	st->snapshot_ns = now;
	/* Frames written in the same segment as the 101 are not followed
	 * (note_head_end() found no head end at the segment's end): say so. */
	if (st->dir[WS_DIR_OUT].budget_end != seq + payload_len) {
		st->life.unclassified[WS_DIR_OUT]++;
		count(WS_CNT_UNCLASSIFIED);
	}
}

/* Frame headers are read only where a segment's payload starts: the cost
 * stays one small read per segment. A segment that starts inside a frame
 * continues it; one whose frame boundary lies elsewhere (several frames in
 * one segment) loses the thread until the next segment, counted as
 * unclassified. */
static __noinline void follow_frames(struct __sk_buff *skb, struct conn_state *st, int dir, __u32 seq,
				     __u32 payload_off)
{
	struct ws_lifetime *life = &st->life;
	__u32 payload_len = skb->len - payload_off;
	__u32 end = seq + payload_len, hdr, plen;
	__u64 now = bpf_ktime_get_ns();
	int d = dir & 1;
	__u8 h[16] = {};
	__u8 opcode;

	/* Bytes beyond the highest seen so far: retransmissions count once. */
	if (!st->high_seq[d])
		st->high_seq[d] = seq;
	if ((__s32)(end - st->high_seq[d]) <= 0)
		return;
	life->bytes[d] += end - ((__s32)(seq - st->high_seq[d]) > 0 ? seq : st->high_seq[d]);
	st->high_seq[d] = end;
	life->last_data_ns[d] = now;

	if (st->frame_sync[d] && seq != st->next_frame[d]) {
		/* Inside a long frame, or a boundary we cannot see. */
		if ((__s32)(st->next_frame[d] - seq) > 0 && (__s32)(st->next_frame[d] - end) >= 0)
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
	life->frames[d]++;
	if (opcode == 9) {
		life->pings[d]++;
		life->prev_ping_ns[d] = life->last_ping_ns[d];
		life->last_ping_ns[d] = now;
	} else if (opcode == 10) {
		life->pongs[d]++;
	} else if (opcode == 8 && !life->close_frame_ns[d]) {
		__u8 code[2] = {};

		life->close_frame_ns[d] = now;
		life->close_code[d] = 1005;
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
			life->close_code[d] = (__u16)code[0] << 8 | code[1];
		}
	}
	st->next_frame[d] = seq + hdr + plen;
	st->frame_sync[d] = 1;
	if ((__s32)(st->next_frame[d] - end) < 0)
		goto lost; /* another frame starts inside this segment */
	return;
lost:
	life->unclassified[d]++;
	st->frame_sync[d] = 0;
	count(WS_CNT_UNCLASSIFIED);
}

static __always_inline int handle_skb(struct __sk_buff *skb, int dir)
{
	struct conn_state *st = NULL;
	struct bpf_sock *sk;
	struct scratch *sc;
	struct tcphdr *tcp;
	__u32 payload_off, payload_len = 0, seq, ports, first_len, n = 0;
	__u16 tcp_flags, flags = 0;
	__u8 first[4] = {};

	if (!port_watched(skb->local_port))
		return 1;
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
	sc = scratch_get();
	if (!sc)
		return 1;

	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		st = bpf_sk_storage_get(&conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (st && st->upgraded) {
		/* After the 101: frames and the end, never samples. */
		__u64 now = bpf_ktime_get_ns();

		if (payload_len)
			follow_frames(skb, st, dir, seq, payload_off);
		if (!tcp_flags) {
			if (now - st->snapshot_ns < SNAPSHOT_NS)
				return 1;
			st->snapshot_ns = now;
			__builtin_memcpy(sc->data, &st->life, sizeof(st->life));
			flags = WS_F_LIFETIME;
			n = sizeof(st->life);
			goto send;
		}
		if (st->life.closer == WS_DIR_NONE) {
			st->life.closer = dir;
			st->life.closed_by_rst = !!(tcp_flags & WS_F_RST);
			st->life.first_close_ns = now;
		}
		__builtin_memcpy(sc->data, &st->life, sizeof(st->life));
		flags = WS_F_LIFETIME;
		n = sizeof(st->life);
		goto send;
	}
	if (payload_len) {
		count(WS_CNT_SEGMENTS);
		if (!st)
			count(WS_CNT_NO_STORAGE);
		first_len = payload_len < 4 ? payload_len : 4;
		if (bpf_skb_load_bytes(skb, payload_off, first, ((first_len - 1) & 3) + 1) < 0)
			return 1;
		if (st) {
			n = plan_sample(&st->dir[dir & 1], seq, payload_len, first, first_len, dir, &flags);
		} else if (head_start_word(first, first_len, dir)) {
			/* Without state, sample what may start a head. */
			__u32 budget = dir == WS_DIR_IN ? request_budget : answer_budget;

			flags = WS_F_HEAD_START;
			n = payload_len;
			if (n > budget) {
				n = budget;
				flags |= WS_F_CUT;
			}
		}
		if (!n && !tcp_flags)
			return 1;
	}
	if (n > WS_SAMPLE_MAX) {
		n = WS_SAMPLE_MAX;
		flags |= WS_F_CUT;
	}
	if (flags & WS_F_CUT)
		count(WS_CNT_CUT);
send:
	fill_endpoints(skb, ports, dir, &sc->ev);
	sc->ev.type = WS_EV_DATA;
	sc->ev.dir = dir;
	sc->ev.flags = flags | tcp_flags;
	sc->ev.reserved = 0;
	sc->ev.payload_len = payload_len;
	sc->ev.seq = seq;
	sc->ev.cookie = bpf_get_socket_cookie(skb);
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.cgroup_id = bpf_skb_cgroup_id(skb);
	fill_owner(&sc->ev, dir);
	if (n && !(flags & WS_F_LIFETIME)) {
		/* n is in [1, WS_SAMPLE_MAX]; say so in a form the verifier keeps. */
		n = ((n - 1) & (WS_SAMPLE_MAX - 1)) + 1;
		if (bpf_skb_load_bytes(skb, payload_off, sc->data, n) < 0)
			return 1;
		if (st) {
			note_head_end(&st->dir[dir & 1], sc, seq, n, payload_len);
			if (track_lifetime && dir == WS_DIR_OUT && (flags & WS_F_HEAD_START))
				note_upgrade(skb, st, seq, payload_off, payload_len, sc->ev.ts_ns);
		}
		count(WS_CNT_SAMPLED);
	}
	emit(sc, n);
	return 1;
}

SEC("cgroup_skb/ingress")
int wssnoop_ingress(struct __sk_buff *skb)
{
	return handle_skb(skb, WS_DIR_IN);
}

SEC("cgroup_skb/egress")
int wssnoop_egress(struct __sk_buff *skb)
{
	return handle_skb(skb, WS_DIR_OUT);
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
	struct scratch *sc;
	__u64 cookie, id;
	__u32 tid, *last;

	/* Runs on every socket read and write of the host: plain loads through
	 * the tracepoint's BTF pointer, no probe_read. skc_num is the local port
	 * of a socket that is still hashed, which a socket being used is. */
	if (ret <= 0 || !port_watched(sk->__sk_common.skc_num))
		return 0;
	/* A socket the packet path never sampled has no cookie yet. */
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		return 0;
	id = bpf_get_current_pid_tgid();
	tid = (__u32)id;
	last = bpf_map_lookup_elem(&owners, &cookie);
	if (last && *last == tid)
		return 0;
	bpf_map_update_elem(&owners, &cookie, &tid, BPF_ANY);
	sc = scratch_get();
	if (!sc)
		return 0;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.type = WS_EV_OWNER;
	sc->ev.owner_source = source;
	sc->ev.tgid = id >> 32;
	sc->ev.tid = tid;
	bpf_get_current_comm(sc->ev.comm, sizeof(sc->ev.comm));
	sc->ev.cookie = cookie;
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.local_port = local_port(sk);
	count(WS_CNT_OWNER);
	emit(sc, 0);
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
 * asked for; a socket it never saw has none and is of no interest. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(wssnoop_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct scratch *sc;
	__u64 cookie;

	if (newstate != TCP_CLOSE || !port_watched(local_port(sk)))
		return 0;
	cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!cookie)
		return 0;
	bpf_map_delete_elem(&owners, &cookie);
	sc = scratch_get();
	if (!sc)
		return 0;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.type = WS_EV_CLOSE;
	sc->ev.cookie = cookie;
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.local_port = local_port(sk);
	sc->ev.flags = oldstate; /* the state it left, for diagnostics */
	count(WS_CNT_CLOSE);
	emit(sc, 0);
	return 0;
}
