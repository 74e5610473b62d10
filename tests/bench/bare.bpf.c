// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bare.bpf.c - the bench's reference arm: the least a socket-level capture
 * can do, re-created from the design's description of what it measured
 * before wssnoop was built (DESIGN.md, "Capture"). For a watched local port, every segment with payload gets one
 * ring record with the first 256 bytes, the TCP sequence number, the
 * direction and the socket cookie; nothing else (no per-connection state, no
 * owner, no time, no choice of segments, no staging).
 *
 * Run in the same bench as wssnoop, it says what the machine charges for the
 * bare minimum today, so that wssnoop's figures can be read against it: the
 * targets were set from this design's figures on a machine of this kind.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define PREFIX 256

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u8 watched[65536];
__u64 lost;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} ring SEC(".maps");

struct bare_record {
	__u64 cookie;
	__u32 seq;
	__u32 payload_len;
	__u8 dir;
	__u8 pad[7];
	__u8 data[PREFIX];
};

static __always_inline int capture(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct bare_record *rec;
	struct tcphdr *tcp;
	__u32 off, n;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return 1;
		off = ip->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return 1;
		off = sizeof(*ip6);
	} else {
		return 1;
	}
	if (off > 60)
		return 1;
	tcp = data + off;
	if ((void *)(tcp + 1) > end)
		return 1;
	off += tcp->doff * 4;
	if (off >= skb->len)
		return 1;
	rec = bpf_ringbuf_reserve(&ring, sizeof(*rec), 0);
	if (!rec) {
		__sync_fetch_and_add(&lost, 1);
		return 1;
	}
	n = skb->len - off;
	rec->payload_len = n;
	if (n > PREFIX)
		n = PREFIX;
	if (bpf_skb_load_bytes(skb, off, rec->data, ((n - 1) & (PREFIX - 1)) + 1) < 0) {
		bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
		__sync_fetch_and_add(&lost, 1);
		return 1;
	}
	rec->cookie = bpf_get_socket_cookie(skb);
	rec->seq = bpf_ntohl(tcp->seq);
	rec->dir = dir;
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	return 1;
}

static __always_inline bool port_watched(__u32 port)
{
	asm volatile("" : "+r"(port));
	return watched[port & 0xffff];
}

SEC("cgroup_skb/ingress")
int bare_ingress(struct __sk_buff *skb)
{
	if (!port_watched(skb->local_port))
		return 1;
	return capture(skb, 0);
}

SEC("cgroup_skb/egress")
int bare_egress(struct __sk_buff *skb)
{
	if (!port_watched(skb->local_port))
		return 1;
	return capture(skb, 1);
}
