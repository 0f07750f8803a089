/*
 * PTCOMM: backend process management and packet framing (see ptcomm.h).
 *
 * Copyright (C) podheitor authors. License: AGPL-3.0-or-later.
 */
#include "ptcomm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE (1u << 20)      /* matches the pipe size we ask for */
#define PIPE_SIZE (1 << 20)       /* F_SETPIPE_SZ: about 3x throughput (LABS.md 5) */
#define SLICE_MS 1000             /* poll slice: cancel/death checks between slices */
#define EXIT_WAIT_MS 2000         /* after EOF, time for the backend to finish exiting */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_why(pt_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(pt_backend *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof(b->why), fmt, ap);
    va_end(ap);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- process ------------------------------------------------------------------ */

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child_exec(int in_fd, int out_fd, int err_fd, int status_fd, char *const argv[])
{
    struct sigaction dfl;
    sigset_t none;
    int fds[3] = {in_fd, out_fd, err_fd};

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigaction(sig, &dfl, NULL);   /* the FD ignores SIGPIPE; the backend must not */
        }
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Move the pipe ends above 2 first, so dup2 onto 0..2 cannot clobber one. */
    for (int i = 0; i < 3; i++) {
        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (fds[i] < 0) goto fail;
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) goto fail;
    }
#ifdef SYS_close_range
    /* The backend must not inherit bacula-fd's sockets; status_fd is CLOEXEC. */
    syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
    execv(argv[0], argv);
fail:;
    int err = errno;
    ssize_t w = write(status_fd, &err, sizeof(err));
    (void)w;
    _exit(127);
}

static void init_pipe_size(int fd)
{
    /* Best effort: an unprivileged FD may be limited by /proc/sys/fs/pipe-max-size. */
    (void)fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int pt_spawn(pt_backend *b, char *const argv[])
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, st[2] = {-1, -1};
    int child_errno = 0;
    pid_t pid;

    b->pid = 0;
    b->to_fd = b->from_fd = b->err_fd = -1;
    b->exited = false;
    b->rpos = b->rend = 0;
    b->payload_left = 0;
    b->errlen = 0;
    b->errtotal = 0;
    b->rcap = RBUF_SIZE;
    b->rbuf = malloc(b->rcap);
    if (!b->rbuf) {
        set_why(b, "out of memory");
        return -1;
    }
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) ||
        pipe2(st, O_CLOEXEC)) {
        set_why(b, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    init_pipe_size(in[1]);
    init_pipe_size(out[1]);
    pid = fork();
    if (pid < 0) {
        set_why(b, "cannot fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) child_exec(in[0], out[1], err[1], st[1], argv);
    pthread_mutex_lock(b->pid_lock);
    b->pid = pid;
    pthread_mutex_unlock(b->pid_lock);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&st[1]);
    /* The status pipe closes on a successful exec, or carries the exec errno. */
    ssize_t n;
    do {
        n = read(st[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    close_fd(&st[0]);
    b->to_fd = in[1];
    b->from_fd = out[0];
    b->err_fd = err[0];
    if (set_nonblock(b->to_fd) || set_nonblock(b->from_fd) || set_nonblock(b->err_fd)) {
        set_why(b, "cannot configure pipes: %s", strerror(errno));
        return -1;     /* caller runs pt_close, which reaps */
    }
    if (n == (ssize_t)sizeof(child_errno)) {
        set_why(b, "cannot execute %s: %s", argv[0], strerror(child_errno));
        return -1;
    }
    return 0;
fail:
    close_fd(&in[0]); close_fd(&in[1]); close_fd(&out[0]); close_fd(&out[1]);
    close_fd(&err[0]); close_fd(&err[1]); close_fd(&st[0]); close_fd(&st[1]);
    free(b->rbuf);
    b->rbuf = NULL;
    return -1;
}

bool pt_has_exited(pt_backend *b)
{
    bool done;
    pthread_mutex_lock(b->pid_lock);
    if (!b->exited && b->pid > 0) {
        int status = 0;
        pid_t r;
        do {
            r = waitpid(b->pid, &status, WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == b->pid) {
            b->exited = true;
            b->status = status;
        } else if (r < 0) {            /* ECHILD: somebody else reaped it */
            b->exited = true;
            b->status = -1;
        }
    }
    done = b->exited || b->pid <= 0;
    pthread_mutex_unlock(b->pid_lock);
    return done;
}

void pt_signal(pt_backend *b, int sig)
{
    pthread_mutex_lock(b->pid_lock);
    if (b->pid > 0 && !b->exited) {
        kill(b->pid, sig);     /* not yet reaped, so the pid cannot have been reused */
    }
    pthread_mutex_unlock(b->pid_lock);
}

const char *pt_describe_exit(const pt_backend *b, char *buf, size_t cap)
{
    if (!b->exited) {
        snprintf(buf, cap, "still running");
    } else if (b->status == -1) {
        snprintf(buf, cap, "exit status unknown");
    } else if (WIFSIGNALED(b->status)) {
        snprintf(buf, cap, "signal %d", WTERMSIG(b->status));
    } else {
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(b->status));
    }
    return buf;
}

/* ---- stderr capture ------------------------------------------------------------ */

static void keep_stderr(pt_backend *b, const char *data, size_t n)
{
    b->errtotal += n;
    if (n >= sizeof(b->errtail)) {
        memcpy(b->errtail, data + n - sizeof(b->errtail), sizeof(b->errtail));
        b->errlen = sizeof(b->errtail);
        return;
    }
    if (b->errlen + n > sizeof(b->errtail)) {
        size_t drop = b->errlen + n - sizeof(b->errtail);
        memmove(b->errtail, b->errtail + drop, b->errlen - drop);
        b->errlen -= drop;
    }
    memcpy(b->errtail + b->errlen, data, n);
    b->errlen += n;
}

/* Reads whatever stderr has now; never blocks (the fd is non-blocking). */
static void read_stderr(pt_backend *b)
{
    char tmp[4096];
    while (b->err_fd >= 0) {
        ssize_t n = read(b->err_fd, tmp, sizeof(tmp));
        if (n > 0) {
            keep_stderr(b, tmp, (size_t)n);
        } else if (n == 0) {
            close_fd(&b->err_fd);
        } else if (errno != EINTR) {
            if (errno != EAGAIN) close_fd(&b->err_fd);
            return;
        }
    }
}

/* Waits up to ms for the backend to exit, draining stderr meanwhile. */
static bool wait_exit(pt_backend *b, int ms)
{
    long long deadline = now_ms() + ms;
    int pidfd = -1;
#ifdef SYS_pidfd_open
    pidfd = (int)syscall(SYS_pidfd_open, b->pid, 0);
#endif
    while (!pt_has_exited(b)) {
        long long left = deadline - now_ms();
        if (left <= 0) break;
        struct pollfd p[2] = {{pidfd, POLLIN, 0}, {b->err_fd, POLLIN, 0}};
        /* Without a pidfd, fall back to short slices (kernels before 5.3). */
        int slice = pidfd >= 0 ? (int)left : (int)(left < 20 ? left : 20);
        if (poll(p, 2, slice) > 0 && (p[1].revents & (POLLIN | POLLHUP))) read_stderr(b);
    }
    if (pidfd >= 0) close(pidfd);
    return pt_has_exited(b);
}

void pt_drain_stderr(pt_backend *b, int wait_ms)
{
    long long deadline = now_ms() + wait_ms;
    while (b->err_fd >= 0) {
        long long left = deadline - now_ms();
        if (left <= 0) return;
        struct pollfd p = {b->err_fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0) return;
        read_stderr(b);
    }
}

/* The backend's stdout/stdin is gone: say why, as precisely as we can. */
static void describe_death(pt_backend *b, const char *what)
{
    char st[64];
    if (wait_exit(b, EXIT_WAIT_MS)) {
        pt_drain_stderr(b, 200);
        set_why(b, "backend exited unexpectedly (%s)", pt_describe_exit(b, st, sizeof(st)));
    } else {
        set_why(b, "backend %s but is still running", what);
    }
}

/* ---- reading ------------------------------------------------------------------- */

/* One poll slice for fd/events; handles stderr, cancel, death and the deadline.
 * Returns 1 when fd is ready, 0 to poll again, -1 on failure (why set). */
static int wait_ready(pt_backend *b, int fd, short events, long long deadline)
{
    struct pollfd p[2] = {{fd, events, 0}, {b->err_fd, POLLIN, 0}};
    long long left = deadline - now_ms();
    int r = poll(p, 2, (int)(left < SLICE_MS ? (left > 0 ? left : 0) : SLICE_MS));
    if (r < 0 && errno != EINTR) {
        set_why(b, "poll failed: %s", strerror(errno));
        return -1;
    }
    if (r > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) read_stderr(b);
    if (r > 0 && p[0].revents) return 1;
    if (b->cancel && *b->cancel) {
        set_why(b, "job cancelled");
        return -1;
    }
    if (now_ms() >= deadline) {
        set_why(b, "no answer from backend within %d s", b->timeout_ms / 1000);
        return -1;
    }
    if (r == 0 && pt_has_exited(b)) {
        /* Exited while a grandchild keeps the pipe open: no EOF will come. */
        char st[64];
        set_why(b, "backend exited unexpectedly (%s)", pt_describe_exit(b, st, sizeof(st)));
        return -1;
    }
    return 0;
}

/* One read of up to cap bytes, waiting (poll, with the deadline) until some arrive. */
static ssize_t read_some(pt_backend *b, void *dst, size_t cap)
{
    long long deadline = now_ms() + b->timeout_ms;
    for (;;) {
        ssize_t n = read(b->from_fd, dst, cap);
        if (n > 0) return n;
        if (n == 0) {
            describe_death(b, "closed its output");
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            set_why(b, "read from backend failed: %s", strerror(errno));
            return -1;
        }
        int r;
        while ((r = wait_ready(b, b->from_fd, POLLIN, deadline)) == 0) {
        }
        if (r < 0) return -1;
    }
}

/* Reads exactly n bytes through rbuf; big reads skip it once it is empty (one copy
 * less for file data). */
static int read_exact(pt_backend *b, void *dst, size_t n)
{
    unsigned char *d = dst;
    while (n > 0) {
        size_t have = b->rend - b->rpos;
        if (have == 0) {
            bool direct = n >= 65536;
            ssize_t got = read_some(b, direct ? d : b->rbuf, direct ? n : b->rcap);
            if (got < 0) return -1;
            if (direct) {
                d += got;
                n -= (size_t)got;
            } else {
                b->rpos = 0;
                b->rend = (size_t)got;
            }
            continue;
        }
        size_t take = have < n ? have : n;
        memcpy(d, b->rbuf + b->rpos, take);
        b->rpos += take;
        d += take;
        n -= take;
    }
    return 0;
}

static bool is_message_letter(char c)
{
    return c && strchr("IWQSNRPOVEA", c) != NULL;
}

/* Renders the 8 header bytes printable, for the error message. */
static void show_header(const unsigned char *h, char *out, size_t cap)
{
    size_t o = 0;
    for (int i = 0; i < 8 && o + 5 < cap; i++) {
        o += (size_t)snprintf(out + o, cap - o, (h[i] >= 32 && h[i] < 127 && h[i] != '\\')
                              ? "%c" : "\\x%02x", h[i]);
    }
}

pt_kind pt_read_header(pt_backend *b, int32_t *len)
{
    unsigned char h[8];
    for (;;) {
        if (b->payload_left > 0 && pt_skip_payload(b) < 0) return PT_FAIL;
        if (read_exact(b, h, sizeof(h)) < 0) return PT_FAIL;
        int32_t n = 0;
        for (int i = 1; i <= 6; i++) {
            if (h[i] < '0' || h[i] > '9') {
                n = -1;
                break;
            }
            n = n * 10 + (h[i] - '0');
        }
        char shown[64];
        if (n < 0 || h[7] != '\n') {
            show_header(h, shown, sizeof(shown));
            set_why(b, "protocol error: malformed packet header \"%s\"", shown);
            return PT_FAIL;
        }
        char letter = (char)h[0];
        *len = 0;
        switch (letter) {
        case 'F': return PT_EOD;    /* like Bacula: F and T never carry a payload */
        case 'T': return PT_TERM;
        case 'C': *len = n; b->payload_left = n; return PT_CMD;
        case 'D': *len = n; b->payload_left = n; return PT_DATA;
        default: break;
        }
        if (!is_message_letter(letter)) {
            show_header(h, shown, sizeof(shown));
            set_why(b, "protocol error: unknown packet \"%s\"", shown);
            return PT_FAIL;
        }
        char *text = malloc((size_t)n + 1);
        if (!text) {
            set_why(b, "out of memory");
            return PT_FAIL;
        }
        if (read_exact(b, text, (size_t)n) < 0) {
            free(text);
            return PT_FAIL;
        }
        text[n] = '\0';
        if (b->on_message) b->on_message(b->msg_arg, letter, text);
        free(text);
        if (letter == 'E') return PT_BERROR;
        if (letter == 'A') return PT_BABORT;
    }
}

ssize_t pt_read_payload(pt_backend *b, void *dst, size_t n)
{
    if (n > (size_t)b->payload_left) n = (size_t)b->payload_left;
    if (read_exact(b, dst, n) < 0) return -1;
    b->payload_left -= (int32_t)n;
    return (ssize_t)n;
}

int pt_skip_payload(pt_backend *b)
{
    char tmp[8192];
    while (b->payload_left > 0) {
        size_t n = (size_t)b->payload_left < sizeof(tmp) ? (size_t)b->payload_left : sizeof(tmp);
        if (pt_read_payload(b, tmp, n) < 0) return -1;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------------- */

/* Writes iov fully. SIGPIPE is blocked for this thread meanwhile: a dead backend
 * must give EPIPE here, not kill bacula-fd. */
static int write_all(pt_backend *b, struct iovec *iov, int cnt)
{
    sigset_t pipe_set, old;
    long long deadline = now_ms() + b->timeout_ms;
    int rc = 0;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    while (cnt > 0) {
        ssize_t n = writev(b->to_fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                int r;
                while ((r = wait_ready(b, b->to_fd, POLLOUT, deadline)) == 0) {
                }
                if (r < 0) {
                    rc = -1;
                    break;
                }
                continue;
            }
            if (errno == EPIPE) {
                describe_death(b, "closed its input");
            } else {
                set_why(b, "write to backend failed: %s", strerror(errno));
            }
            rc = -1;
            break;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    /* Consume a SIGPIPE we caused, unless one was already pending before. */
    if (rc < 0 && !sigismember(&old, SIGPIPE)) {
        sigset_t pending;
        struct timespec zero = {0, 0};
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int pt_write(pt_backend *b, char status, const void *payload, size_t len)
{
    char header[16];
    struct iovec iov[2];

    if (b->to_fd < 0) {
        set_why(b, "backend input is closed");
        return -1;
    }
    if (len > PT_MAX_PAYLOAD) {
        set_why(b, "packet of %zu bytes is too long", len);
        return -1;
    }
    snprintf(header, sizeof(header), "%c%06zu\n", status, len);
    iov[0].iov_base = header;
    iov[0].iov_len = 8;
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    return write_all(b, iov, len ? 2 : 1);
}

/* ---- termination --------------------------------------------------------------- */

void pt_close(pt_backend *b, int grace_ms)
{
    close_fd(&b->to_fd);       /* EOF on stdin: a well-behaved backend exits now */
    close_fd(&b->from_fd);
    if (b->pid > 0 && !wait_exit(b, grace_ms)) {
        pt_signal(b, SIGTERM);
        if (!wait_exit(b, grace_ms)) {
            pt_signal(b, SIGKILL);
            wait_exit(b, 60000);   /* SIGKILL cannot be ignored; bounded anyway */
        }
    }
    read_stderr(b);
    close_fd(&b->err_fd);
    free(b->rbuf);
    b->rbuf = NULL;
    b->rpos = b->rend = 0;
}
