// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * proc.c - /proc readers for process enrichment and owner inference.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "proc.h"

#define CACHE_SLOTS 256
#define CACHE_NS (5ULL * 1000000000ULL)

struct cache_slot {
	uint32_t tgid, tid;
	uint64_t at_ns;
	struct proc_info info;
};

static struct cache_slot cache[CACHE_SLOTS];

static void read_small(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	out[0] = 0;
	if (fd >= 0) {
		n = read(fd, out, cap - 1);
		close(fd);
	}
	if (n <= 0)
		return;
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
}

void proc_container_id(const char *text, char out[65])
{
	size_t run = 0;

	out[0] = 0;
	for (const char *p = text; *p; p++) {
		if (isxdigit((unsigned char)*p) && !isupper((unsigned char)*p)) {
			run++;
			continue;
		}
		if (run == 64) {
			memcpy(out, p - 64, 64);
			out[64] = 0;
			return;
		}
		run = 0;
	}
	if (run == 64) {
		memcpy(out, text + strlen(text) - 64, 64);
		out[64] = 0;
	}
}

void proc_lookup(uint32_t tgid, uint32_t tid, uint64_t now_ns, struct proc_info *out)
{
	struct cache_slot *slot = &cache[(tgid * 31 + tid) % CACHE_SLOTS];
	char path[64], buf[4096];
	ssize_t n;

	if (slot->tgid == tgid && slot->tid == tid && now_ns - slot->at_ns < CACHE_NS && slot->at_ns) {
		*out = slot->info;
		return;
	}
	memset(out, 0, sizeof(*out));
	if (!tgid)
		return;
	snprintf(path, sizeof(path), "/proc/%u/comm", tgid);
	read_small(path, out->comm, sizeof(out->comm));
	snprintf(path, sizeof(path), "/proc/%u/task/%u/comm", tgid, tid ? tid : tgid);
	read_small(path, out->thread, sizeof(out->thread));
	snprintf(path, sizeof(path), "/proc/%u/cgroup", tgid);
	read_small(path, buf, sizeof(buf));
	proc_container_id(buf, out->container);
	snprintf(path, sizeof(path), "/proc/%u/ns/net", tgid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		if (strncmp(buf, "net:[", 5) == 0)
			out->netns = strtoull(buf + 5, NULL, 10);
	}
	slot->tgid = tgid;
	slot->tid = tid;
	slot->at_ns = now_ns ? now_ns : 1;
	slot->info = *out;
}

/* /proc/net/tcp prints each address as the 32-bit words of the network-order
 * address, in host order, in hex. */
static void hex_addr(const uint8_t *addr, int words, char *out)
{
	for (int w = 0; w < words; w++) {
		uint32_t v;

		memcpy(&v, addr + 4 * w, 4);
		sprintf(out + 8 * w, "%08X", v);
	}
}

static unsigned long find_inode(int family, const uint8_t *laddr, uint16_t lport, const uint8_t *raddr,
				uint16_t rport)
{
	const char *path = family == AF_INET6 ? "/proc/net/tcp6" : "/proc/net/tcp";
	int words = family == AF_INET6 ? 4 : 1;
	char want_local[64], want_remote[64], line[512];
	unsigned long inode = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	hex_addr(laddr, words, want_local);
	sprintf(want_local + 8 * words, ":%04X", lport);
	hex_addr(raddr, words, want_remote);
	sprintf(want_remote + 8 * words, ":%04X", rport);
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned long ino;

		if (sscanf(line, " %*d: %63s %63s %*x %*x:%*x %*x:%*x %*x %*u %*d %lu", local, remote, &ino) != 3)
			continue;
		if (strcmp(local, want_local) == 0 && strcmp(remote, want_remote) == 0) {
			inode = ino;
			break;
		}
	}
	fclose(f);
	return inode;
}

uint32_t proc_socket_owner(int family, const uint8_t *laddr, uint16_t lport, const uint8_t *raddr, uint16_t rport)
{
	unsigned long inode = find_inode(family, laddr, lport, raddr, rport);
	char want[64], path[640], link[64];
	struct dirent *pe;
	uint32_t owner = 0;
	DIR *proc;

	if (!inode)
		return 0;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	proc = opendir("/proc");
	while (proc && !owner && (pe = readdir(proc))) {
		struct dirent *fe;
		DIR *fds;

		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		while (fds && (fe = readdir(fds))) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%s/fd/%s", pe->d_name, fe->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (strcmp(link, want) == 0) {
				owner = (uint32_t)strtoul(pe->d_name, NULL, 10);
				break;
			}
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
	return owner;
}
