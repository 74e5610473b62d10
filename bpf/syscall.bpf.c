// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscall.bpf.c - syscall capture (--capture syscall), for hosts without
 * cgroup v2 or where the packet path is not wanted.
 *
 * Syscall tracepoints see what a server reads from and writes to its TCP
 * sockets. A socket is classified once, when it is accepted (or, for one
 * accepted before wssnoop started or handed over by another process, on its
 * first read or write), by walking task -> files -> fdtable -> file -> sock;
 * after that a read or write costs one lookup keyed by (tgid, fd). The
 * records are the socket-level capture's: WS_EV_DATA with seq the byte
 * offset in each direction's stream (WS_F_STREAM), WS_EV_CLOSE at the end.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpf/capture.bpf.h"

#define IPPROTO_TCP 6
#define TCP_CLOSE   7
#define S_IFMT	    00170000
#define S_IFSOCK    0140000
#define MSG_PEEK    2

/* Sockets followed at once; the least recently used goes first. */
#define MAX_SOCKS 65536
/* iovecs of one readv/writev/recvmsg/sendmsg gathered into a sample. */
#define IOV_GATHER  8
#define SAMPLE_HALF (WS_SAMPLE_MAX / 2)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A record is gathered from the user's buffers before it is sent: per CPU,
 * too large for the stack. Two per CPU, each taken by one run at a time
 * (busy_take()): a run that another one on the same CPU interrupts or
 * preempts (syscall tracepoints run preemptibly under PREEMPT_RT) keeps its
 * record, and the other takes the second. The count follows the record,
 * which is sent from its start. */
struct scratch {
	struct ws_event ev;
	__u8 data[WS_SAMPLE_MAX];
	__u32 busy;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline struct scratch *scratch_try(__u32 key)
{
	struct scratch *sc = bpf_map_lookup_elem(&scratch_map, &key);

	return sc && busy_take(&sc->busy) ? sc : NULL;
}

/* A scratch record no other run holds; NULL (the event is counted lost)
 * when both are held. Two calls, not a loop: older verifiers take a loop
 * whose key lives on the stack for one that never ends. */
static __always_inline struct scratch *scratch_take(void)
{
	struct scratch *sc = scratch_try(0);

	if (!sc)
		sc = scratch_try(1);
	if (!sc)
		count(WS_CNT_LOST);
	return sc;
}

/* Send the event built in the scratch record with n sample bytes. */
static __always_inline void emit(struct scratch *sc, __u32 n)
{
	__u64 size;

	if (n > WS_SAMPLE_MAX)
		n = WS_SAMPLE_MAX;
	sc->ev.sample_len = n;
	size = sizeof(struct ws_event) + n;
	ring_output(sc, size, 1);
}

/* Stop the head's window where the head ends, when it ends with the sample. */
static __always_inline void note_head_end(struct dir_state *d, const struct scratch *sc, __u32 seq, __u32 n,
					  __u32 payload_len)
{
	__u32 i = n - 4;

	if (!may_end_window(sc->ev.flags, n, payload_len))
		return;
	i &= WS_SAMPLE_MAX - 1;
	if (i + 4 > WS_SAMPLE_MAX)
		return;
	if (sc->data[i] == '\r' && sc->data[i + 1] == '\n' && sc->data[i + 2] == '\r' &&
	    sc->data[i + 3] == '\n')
		d->budget_end = seq + n;
}

struct fd_key {
	__u32 tgid;
	__u32 fd;
};

/* A watched TCP socket as one process sees it through one descriptor. */
struct sock_state {
	__u64 cookie;
	__u64 sk;
	struct dir_state dir[2];
	__u32 offset[2]; /* bytes read (WS_DIR_IN) and written (WS_DIR_OUT) so far */
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
	__u8 pad[3];
	__u8 local_addr[16];
	__u8 remote_addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SOCKS);
	__type(key, struct fd_key);
	__type(value, struct sock_state);
} socks SEC(".maps");

/* Descriptors found not to be watched sockets, so that they are walked only
 * once: the value is the local port of a TCP socket (looked at again when
 * that port becomes watched), 0 for anything else. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SOCKS);
	__type(key, struct fd_key);
	__type(value, __u16);
} not_watched SEC(".maps");

/* Followed sockets by kernel address, so that the end of one whose owner
 * never called close (it exited, or the last descriptor was elsewhere) is
 * still told, and its descriptor entry dropped. */
struct live_sock {
	struct fd_key key; /* the descriptor it was last classified through */
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct live_sock);
} live_socks SEC(".maps");

/* A read or write in progress on a followed socket, by thread. */
struct pending_io {
	__u64 buf; /* the buffer, or the iovec array when iovcnt != 0 */
	__u32 fd;
	__u32 iovcnt;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending_io);
} pending SEC(".maps");

/* struct file's reference count before Linux 6.13 ("fs: port files to
 * file_ref"): atomic_long_t f_count, 1 for one holder. Since then
 * file_ref_t f_ref, which counts from 0 for one holder. */
struct file___pre_file_ref {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

static __always_inline bool file_single_holder(struct file *file)
{
	struct file___pre_file_ref *old = (void *)file;

	if (bpf_core_field_exists(old->f_count))
		return BPF_CORE_READ(old, f_count.counter) == 1;
	return BPF_CORE_READ(file, f_ref.refcnt.counter) == 0;
}

/* The struct file behind a descriptor of the current process, or NULL. */
static __always_inline struct file *fd_file(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/* The TCP sock behind a descriptor, or NULL for anything else. */
static __always_inline struct sock *fd_tcp_sock(__u32 fd, struct file **filep)
{
	struct file *file = fd_file(fd);
	struct socket *socket;
	struct sock *sk;
	__u16 family;

	if (filep)
		*filep = file;
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	socket = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(socket, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

/* Look at the socket behind fd and follow it if its local port is watched.
 * Returns the state now followed, or NULL. */
static __always_inline struct sock_state *classify(struct fd_key *key)
{
	struct sock_state st = {};
	struct sock *sk = fd_tcp_sock(key->fd, NULL);
	struct live_sock live;
	__u16 port = 0;

	if (sk)
		port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!sk || !port_watched(port)) {
		/* The number may have been a followed socket, closed unseen. */
		bpf_map_delete_elem(&socks, key);
		bpf_map_update_elem(&not_watched, key, &port, BPF_ANY);
		return NULL;
	}
	bpf_map_delete_elem(&not_watched, key);
	/* The socket's cookie if something (SO_COOKIE, a socket-level program)
	 * made one, else its address: stable while it lives, and the end of
	 * its life is told before the address can be reused. */
	st.cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!st.cookie)
		st.cookie = (__u64)sk;
	st.sk = (__u64)sk;
	st.local_port = port;
	st.family = sock_endpoints(sk, st.local_addr, st.remote_addr, &st.remote_port);
	live.key = *key;
	live.cookie = st.cookie;
	bpf_map_update_elem(&socks, key, &st, BPF_ANY);
	bpf_map_update_elem(&live_socks, &st.sk, &live, BPF_ANY);
	return bpf_map_lookup_elem(&socks, key);
}

/* The state of a followed descriptor. An unknown one is classified once:
 * connections accepted before wssnoop started, or received from another
 * process, are picked up on their first read or write. */
static __always_inline struct sock_state *lookup_fd(struct fd_key *key)
{
	struct sock_state *st = bpf_map_lookup_elem(&socks, key);
	__u16 *port;

	if (st)
		return st;
	port = bpf_map_lookup_elem(&not_watched, key);
	if (port && !(*port && port_watched(*port)))
		return NULL;
	return classify(key);
}

static __always_inline void current_key(struct fd_key *key, __u32 fd)
{
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	key->fd = fd;
}

/* The end of a socket: tell user space once, and forget the descriptor. */
static __always_inline void emit_close(__u64 cookie, __u16 local_port)
{
	struct ws_event ev = {
		.type = WS_EV_CLOSE,
		.cookie = cookie,
		.ts_ns = bpf_ktime_get_ns(),
		.local_port = local_port,
	};

	count(WS_CNT_CLOSE);
	emit_event(&ev);
}

/* Copy n bytes of what the call moved into the sample: one buffer, or the
 * iovecs in order. The first piece may fill the sample; later ones are kept
 * within its first half (a bound the verifier can see), which only matters
 * for a head spread over several iovecs past WS_SAMPLE_MAX / 2.
 *
 * The loop keeps its counts in the scratch record (sample_len and
 * payload_len, both written again before the event is sent): the verifier
 * does not follow values in map memory, so the many paths that arrive here
 * look alike and each iteration is checked once, not once per path. */
static __always_inline __u32 gather(struct scratch *sc, const struct pending_io *io, const struct iovec *first, __u32 n)
{
	volatile __u32 *done = &sc->ev.sample_len;
	volatile __u32 *want = &sc->ev.payload_len;
	const struct iovec *iovs = (const struct iovec *)io->buf;
	__u32 i, len, copied;
	struct iovec iov;

	len = first->iov_len < n ? first->iov_len : n;
	if (!len)
		return 0;
	len = ((len - 1) & (WS_SAMPLE_MAX - 1)) + 1;
	if (bpf_probe_read_user(sc->data, len, first->iov_base)) {
		count(WS_CNT_LOST); /* the buffer could not be read without a fault */
		return 0;
	}
	if (!io->iovcnt || len >= n)
		return len;
	*done = len;
	*want = n;
	for (i = 1; i < IOV_GATHER; i++) {
		copied = *done;
		if (i >= io->iovcnt || copied >= *want || copied >= SAMPLE_HALF)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), &iovs[i]))
			break;
		len = *want - copied;
		if (iov.iov_len < len)
			len = iov.iov_len;
		if (len > SAMPLE_HALF)
			len = SAMPLE_HALF;
		if (!len)
			continue;
		len = ((len - 1) & (SAMPLE_HALF - 1)) + 1;
		if (bpf_probe_read_user(sc->data + (copied & (SAMPLE_HALF - 1)), len, iov.iov_base))
			break;
		*done = copied + len;
	}
	return *done;
}

/* Entry of a read or write: note it if the descriptor is followed. */
static __always_inline int io_enter(__u32 fd, __u64 buf, __u32 iovcnt)
{
	struct pending_io io = {.buf = buf, .fd = fd, .iovcnt = iovcnt};
	struct fd_key key;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	current_key(&key, fd);
	if (!lookup_fd(&key))
		return 0;
	bpf_map_update_elem(&pending, &tid, &io, BPF_ANY);
	return 0;
}

/* Entry of recvmsg/sendmsg: the data lies in msg->msg_iov. */
static __always_inline int msg_enter(__u32 fd, const struct user_msghdr *umsg)
{
	struct user_msghdr msg;

	if (bpf_probe_read_user(&msg, sizeof(msg), umsg) || !msg.msg_iovlen)
		return 0;
	return io_enter(fd, (__u64)msg.msg_iov, msg.msg_iovlen > 1024 ? 1024 : msg.msg_iovlen);
}

/* Exit of a read or write: ret bytes moved; sample them as the packet path
 * samples a segment, with the stream offset for a sequence number. */
static __always_inline int io_exit(long ret, int dir)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_io *pio = bpf_map_lookup_elem(&pending, &tid);
	struct pending_io io;
	struct sock_state *st;
	struct dir_state *d;
	struct scratch *sc;
	struct iovec first;
	struct fd_key key;
	__u8 head[8] = {};
	__u32 seq, n, first_len, first_seg;
	__u16 flags = 0;

	if (!pio)
		return 0;
	io = *pio;
	bpf_map_delete_elem(&pending, &tid);
	if (ret <= 0)
		return 0;
	current_key(&key, io.fd);
	st = bpf_map_lookup_elem(&socks, &key);
	if (!st)
		return 0;
	seq = st->offset[dir & 1];
	st->offset[dir & 1] = seq + (__u32)ret;
	if (!port_watched(st->local_port))
		return 0;
	count(WS_CNT_SEGMENTS);

	/* What the user's buffers say cannot be read where a read would
	 * fault (a program that may not sleep): the segment is counted lost. */
	if (io.iovcnt) {
		if (bpf_probe_read_user(&first, sizeof(first), (void *)io.buf))
			goto fault;
	} else {
		first.iov_base = (void *)io.buf;
		first.iov_len = ret;
	}
	/* Bytes of the first buffer that carry data: what a head start is
	 * judged on, and what ends a head sampled whole. */
	first_seg = first.iov_len < (__u64)ret ? first.iov_len : ret;
	first_len = first_seg < WS_HEAD_WORD_BYTES ? first_seg : WS_HEAD_WORD_BYTES;
	if (first_len && bpf_probe_read_user(head, ((first_len - 1) & 7) + 1, first.iov_base))
		goto fault;
	d = &st->dir[dir & 1];
	n = plan_sample(d, seq, ret, head, first_len, dir, &flags);
	if (!n)
		return 0;
	sc = scratch_take();
	if (!sc)
		return 0;
	if (n > WS_SAMPLE_MAX) {
		n = WS_SAMPLE_MAX;
		flags |= WS_F_CUT;
	}
	n = gather(sc, &io, &first, n);
	if (!n)
		goto out;
	/* n is in [1, WS_SAMPLE_MAX]; say so in a form the verifier keeps. */
	barrier_var(n);
	n = ((n - 1) & (WS_SAMPLE_MAX - 1)) + 1;
	if (n < ret)
		flags |= WS_F_CUT;
	if (flags & WS_F_CUT)
		count(WS_CNT_CUT);

	sc->ev.type = WS_EV_DATA;
	sc->ev.dir = dir;
	sc->ev.family = st->family;
	sc->ev.owner_source = WS_OWNER_SYSCALL;
	sc->ev.flags = flags | WS_F_STREAM;
	sc->ev.local_port = st->local_port;
	sc->ev.remote_port = st->remote_port;
	sc->ev.reserved = 0;
	sc->ev.payload_len = ret;
	sc->ev.seq = seq;
	sc->ev.tgid = key.tgid;
	sc->ev.tid = tid;
	sc->ev.cookie = st->cookie;
	sc->ev.ts_ns = bpf_ktime_get_ns();
	sc->ev.cgroup_id = bpf_get_current_cgroup_id();
	__builtin_memcpy(sc->ev.local_addr, st->local_addr, sizeof(sc->ev.local_addr));
	__builtin_memcpy(sc->ev.remote_addr, st->remote_addr, sizeof(sc->ev.remote_addr));
	bpf_get_current_comm(sc->ev.comm, sizeof(sc->ev.comm));
	/* After the flags are in the record: it looks there for a head start.
	 * A head that fills the first buffer exactly (nginx's writev) ends there. */
	note_head_end(d, sc, seq, n, n == first_seg ? first_seg : (__u32)ret);
	count(WS_CNT_SAMPLED);
	emit(sc, n);
out:
	busy_give(&sc->busy);
	return 0;
fault:
	count(WS_CNT_LOST);
	return 0;
}

/* A new connection: classify it now, so that its reads cost one lookup.
 * Connections accepted before wssnoop started are classified on first use. */
static __always_inline int accept_exit(long ret)
{
	struct fd_key key;

	if (ret < 0)
		return 0;
	current_key(&key, ret);
	classify(&key);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int wssnoop_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int wssnoop_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_read")
int wssnoop_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_read")
int wssnoop_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_IN);
}

/* A peek leaves the bytes to be read again: not counted in the stream. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int wssnoop_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return io_enter(ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int wssnoop_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_IN);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int wssnoop_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	if (!ctx->args[2])
		return 0;
	return io_enter(ctx->args[0], ctx->args[1], ctx->args[2] > 1024 ? 1024 : ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int wssnoop_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_IN);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int wssnoop_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return msg_enter(ctx->args[0], (const struct user_msghdr *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int wssnoop_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_IN);
}

SEC("tracepoint/syscalls/sys_enter_write")
int wssnoop_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_write")
int wssnoop_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_OUT);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int wssnoop_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int wssnoop_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_OUT);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int wssnoop_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	if (!ctx->args[2])
		return 0;
	return io_enter(ctx->args[0], ctx->args[1], ctx->args[2] > 1024 ? 1024 : ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int wssnoop_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_OUT);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int wssnoop_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(ctx->args[0], (const struct user_msghdr *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int wssnoop_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret, WS_DIR_OUT);
}

/* The owner closes a descriptor. The connection ends here if this was the
 * socket's last holder; otherwise (a forked child, a dup, a descriptor
 * passed to another process) when the socket reaches TCP_CLOSE. */
SEC("tracepoint/syscalls/sys_enter_close")
int wssnoop_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct sock_state *st;
	struct file *file;
	struct fd_key key;
	struct sock *sk;

	current_key(&key, ctx->args[0]);
	bpf_map_delete_elem(&not_watched, &key);
	st = bpf_map_lookup_elem(&socks, &key);
	if (!st)
		return 0;
	sk = fd_tcp_sock(key.fd, &file);
	if (sk && (__u64)sk == st->sk && file_single_holder(file)) {
		bpf_map_delete_elem(&live_socks, &st->sk);
		emit_close(st->cookie, st->local_port);
	}
	bpf_map_delete_elem(&socks, &key);
	return 0;
}

/* A followed socket reached TCP_CLOSE (a reset, the last ACK, or the last
 * holder exited without close). Told once; a descriptor that still holds
 * the socket stays followed, since data queued before a reset can still be
 * read, and its close is told again (user space ignores a second one). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(wssnoop_sys_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct live_sock *live;
	struct sock_state *st;
	struct fd_key key;
	__u64 addr = (__u64)sk;
	__u64 cookie;

	if (newstate != TCP_CLOSE)
		return 0;
	live = bpf_map_lookup_elem(&live_socks, &addr);
	if (!live)
		return 0;
	key = live->key;
	cookie = live->cookie;
	bpf_map_delete_elem(&live_socks, &addr);
	if (!sk->sk_socket) {
		st = bpf_map_lookup_elem(&socks, &key);
		if (st && st->sk == addr)
			bpf_map_delete_elem(&socks, &key);
	}
	emit_close(cookie, sk->__sk_common.skc_num);
	return 0;
}
