/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * proc.h - what /proc says about a process and who owns a socket.
 *
 * Promise: names, container id and network namespace of a task, cached for a
 * few seconds so that a burst of events costs one read; and, as the marked
 * last resort of attribution, the process holding a TCP socket found the
 * way `ss -p` finds it (/proc/net/tcp* then /proc/PID/fd). Never fails hard:
 * what cannot be read stays empty or zero.
 */
#ifndef WSSNOOP_PROC_H
#define WSSNOOP_PROC_H

#include <stdint.h>

struct proc_info {
	char comm[16];	     /* the process (thread group leader) name */
	char thread[16];     /* the thread's name */
	char container[65];  /* a 64-hex container id from the cgroup path, or "" */
	uint64_t netns;	     /* inode of the network namespace, 0 if unknown */
};

void proc_lookup(uint32_t tgid, uint32_t tid, uint64_t now_ns, struct proc_info *out);

/* Container id in a /proc/PID/cgroup text (docker, containerd, cri-o, podman
 * all embed a 64-hex id): copies it into out (65 bytes) or sets "". */
void proc_container_id(const char *cgroup_text, char out[65]);

/* The process owning the TCP socket with these endpoints (network byte
 * order addresses, host order ports) in our network namespace, or 0. */
uint32_t proc_socket_owner(int family, const uint8_t *local_addr, uint16_t local_port, const uint8_t *remote_addr,
			   uint16_t remote_port);

#endif /* WSSNOOP_PROC_H */
