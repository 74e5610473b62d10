// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * wssnoop.bpf.c - socket-level capture (the default).
 *
 * cgroup_skb ingress/egress programs see every IP packet of the sockets in a
 * cgroup subtree. For a watched local port they copy a bounded prefix of the
 * segments where an HTTP head can start (requests inbound, answers outbound)
 * with the TCP sequence number; everything else costs a table lookup.
 * Tracepoints add what the packet path cannot know: which process reads or
 * writes the socket (sock:sock_recv_length / sock_send_length, 6.3 and later)
 * and when the socket is gone (sock:inet_sock_set_state).
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

struct conn_state {
	struct dir_state dir[2];
	__u32 owner_tgid; /* last process seen reading or writing, 0 if none */
	__u32 owner_tid;
	char owner_comm[WS_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* The addresses and ports of a packet, from the server's point of view. */
static __always_inline int read_headers(struct __sk_buff *skb, int dir, struct ws_event *ev,
					__u32 *payload_off, __u32 *seq, __u16 *tcp_flags)
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
		ev->family = AF_INET;
		__builtin_memset(ev->local_addr, 0, sizeof(ev->local_addr));
		__builtin_memset(ev->remote_addr, 0, sizeof(ev->remote_addr));
		if (dir == WS_DIR_IN) {
			__builtin_memcpy(ev->local_addr, &ip->daddr, 4);
			__builtin_memcpy(ev->remote_addr, &ip->saddr, 4);
		} else {
			__builtin_memcpy(ev->local_addr, &ip->saddr, 4);
			__builtin_memcpy(ev->remote_addr, &ip->daddr, 4);
		}
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		/* Extension headers before TCP are not followed: counted, not sampled. */
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return -1;
		l4off = sizeof(*ip6);
		ev->family = AF_INET6;
		if (dir == WS_DIR_IN) {
			__builtin_memcpy(ev->local_addr, &ip6->daddr, 16);
			__builtin_memcpy(ev->remote_addr, &ip6->saddr, 16);
		} else {
			__builtin_memcpy(ev->local_addr, &ip6->saddr, 16);
			__builtin_memcpy(ev->remote_addr, &ip6->daddr, 16);
		}
	} else {
		return -1;
	}
	if (l4off < 20 || l4off > 60)
		return -1;
	tcp = data + l4off;
	if ((void *)(tcp + 1) > end)
		return -1;
	if (dir == WS_DIR_IN) {
		ev->local_port = bpf_ntohs(tcp->dest);
		ev->remote_port = bpf_ntohs(tcp->source);
	} else {
		ev->local_port = bpf_ntohs(tcp->source);
		ev->remote_port = bpf_ntohs(tcp->dest);
	}
	*seq = bpf_ntohl(tcp->seq);
	*tcp_flags = (tcp->fin ? WS_F_FIN : 0) | (tcp->rst ? WS_F_RST : 0);
	*payload_off = l4off + tcp->doff * 4;
	return 0;
}

static __always_inline void fill_owner(struct ws_event *ev, struct conn_state *st, int dir)
{
	ev->owner_source = WS_OWNER_NONE;
	ev->tgid = 0;
	ev->tid = 0;
	ev->comm[0] = 0;
	if (dir == WS_DIR_OUT && egress_owner) {
		__u64 id = bpf_get_current_pid_tgid();

		if (id >> 32) {
			ev->tgid = id >> 32;
			ev->tid = (__u32)id;
			ev->owner_source = WS_OWNER_EGRESS;
			return;
		}
	}
	if (st && st->owner_tgid) {
		ev->tgid = st->owner_tgid;
		ev->tid = st->owner_tid;
		__builtin_memcpy(ev->comm, st->owner_comm, WS_COMM_LEN);
		ev->owner_source = WS_OWNER_SOCK_TP;
	}
}

static __always_inline int handle_skb(struct __sk_buff *skb, int dir)
{
	struct conn_state *st = NULL;
	struct bpf_sock *sk;
	struct scratch *sc;
	__u32 payload_off, payload_len, seq, first_len, n;
	__u16 tcp_flags, flags = 0;
	__u8 first[4] = {};

	if (!port_watched(skb->local_port))
		return 1;
	sc = scratch_get();
	if (!sc)
		return 1;
	if (read_headers(skb, dir, &sc->ev, &payload_off, &seq, &tcp_flags) < 0) {
		count(WS_CNT_NOT_TCP);
		return 1;
	}
	if (payload_off >= skb->len) {
		/* No payload: only the end of a connection is of interest. */
		if (!tcp_flags)
			return 1;
		payload_len = 0;
	} else {
		payload_len = skb->len - payload_off;
		count(WS_CNT_SEGMENTS);
	}

	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		st = bpf_sk_storage_get(&conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st && payload_len)
		count(WS_CNT_NO_STORAGE);

	if (payload_len) {
		first_len = payload_len < 4 ? payload_len : 4;
		if (bpf_skb_load_bytes(skb, payload_off, first, ((first_len - 1) & 3) + 1) < 0)
			return 1;
		if (st) {
			n = plan_sample(&st->dir[dir & 1], seq, payload_len, first, first_len, dir, &flags);
		} else {
			/* Without state, sample what may start a head. */
			flags = head_start_word(first, first_len, dir) ? WS_F_HEAD_START : 0;
			n = payload_len < (dir == WS_DIR_IN ? request_budget : answer_budget)
				    ? payload_len
				    : (dir == WS_DIR_IN ? request_budget : answer_budget);
			if (!flags)
				n = 0;
		}
		if (!n && !tcp_flags)
			return 1;
	} else {
		n = 0;
	}

	if (n > WS_SAMPLE_MAX) {
		n = WS_SAMPLE_MAX;
		flags |= WS_F_CUT;
	}
	if (flags & WS_F_CUT)
		count(WS_CNT_CUT);
	sc->ev.type = WS_EV_DATA;
	sc->ev.dir = dir;
	sc->ev.flags = flags | tcp_flags;
	sc->ev.reserved = 0;
	sc->ev.payload_len = payload_len;
	sc->ev.seq = seq;
	sc->ev.cookie = bpf_get_socket_cookie(skb);
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.cgroup_id = bpf_skb_cgroup_id(skb);
	fill_owner(&sc->ev, st, dir);
	if (n) {
		/* n is in [1, WS_SAMPLE_MAX]; say so in a form the verifier keeps. */
		n = ((n - 1) & (WS_SAMPLE_MAX - 1)) + 1;
		if (bpf_skb_load_bytes(skb, payload_off, sc->data, n) < 0)
			return 1;
		if (st)
			note_head_end(&st->dir[dir & 1], sc, seq, n, payload_len);
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

/* A process read from or wrote to a watched socket: remember it in the
 * socket's storage and tell user space when it is a new one. */
static __always_inline int note_owner(struct sock *sk, int ret)
{
	struct conn_state *st;
	struct scratch *sc;
	__u64 id;

	if (ret <= 0 || !port_watched(sk->__sk_common.skc_num))
		return 0;
	st = bpf_sk_storage_get(&conns, sk, 0, 0);
	if (!st)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (st->owner_tid == (__u32)id)
		return 0;
	st->owner_tgid = id >> 32;
	st->owner_tid = (__u32)id;
	bpf_get_current_comm(st->owner_comm, sizeof(st->owner_comm));
	sc = scratch_get();
	if (!sc)
		return 0;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.type = WS_EV_OWNER;
	sc->ev.owner_source = WS_OWNER_SOCK_TP;
	sc->ev.tgid = st->owner_tgid;
	sc->ev.tid = st->owner_tid;
	__builtin_memcpy(sc->ev.comm, st->owner_comm, WS_COMM_LEN);
	sc->ev.cookie = sk->__sk_common.skc_cookie.counter;
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.local_port = sk->__sk_common.skc_num;
	count(WS_CNT_OWNER);
	emit(sc, 0);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(wssnoop_sock_recv, struct sock *sk, int ret, int flags)
{
	return note_owner(sk, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(wssnoop_sock_send, struct sock *sk, int ret, int flags)
{
	return note_owner(sk, ret);
}

/* The end of a watched connection. The cookie is the one the packet path
 * asked for; a socket it never saw has none and is of no interest. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(wssnoop_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct scratch *sc;
	__u64 cookie;

	if (newstate != TCP_CLOSE || !port_watched(sk->__sk_common.skc_num))
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		return 0;
	sc = scratch_get();
	if (!sc)
		return 0;
	__builtin_memset(&sc->ev, 0, sizeof(sc->ev));
	sc->ev.type = WS_EV_CLOSE;
	sc->ev.cookie = cookie;
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.local_port = sk->__sk_common.skc_num;
	sc->ev.flags = oldstate; /* the state it left, for diagnostics */
	count(WS_CNT_CLOSE);
	emit(sc, 0);
	return 0;
}
