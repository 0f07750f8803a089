/*
 * PTCOMM: the backend process and the packet framing spoken over its pipes.
 *
 * Frame (both directions): 1 status letter, 6 ASCII decimal digits of payload length,
 * '\n', then the payload (bacula.md 1.3). The shim's side of the pipes is
 * non-blocking and every wait is a poll() with a deadline, so a stuck or dead
 * backend turns into an error return, never a hang of bacula-fd.
 *
 * Copyright (C) podheitor authors. License: AGPL-3.0-or-later.
 */
#ifndef PODHEITOR_PTCOMM_H
#define PODHEITOR_PTCOMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PT_MAX_PAYLOAD 999999
#define PT_ERRTAIL 512          /* bytes of backend stderr kept for the report */
#define PT_WHY 512

/* What a read of one packet header produced. */
typedef enum {
    PT_CMD,        /* 'C': command, payload follows */
    PT_DATA,       /* 'D': data, payload follows */
    PT_EOD,        /* 'F': end of data */
    PT_TERM,       /* 'T': backend terminates */
    PT_BERROR,     /* 'E': backend reported an error (already passed to on_message) */
    PT_BABORT,     /* 'A': backend reported a fatal error (already passed to on_message) */
    PT_FAIL        /* I/O failure, death, timeout or malformed frame: see why */
} pt_kind;

/* Called for every message packet (I W Q S N R P O V E A) with its text. */
typedef void (*pt_message_fn)(void *arg, char letter, const char *text);

typedef struct {
    pid_t pid;                 /* 0 when no process */
    int to_fd;                 /* our end of the backend's stdin */
    int from_fd;               /* our end of the backend's stdout */
    int err_fd;                /* our end of the backend's stderr */
    bool exited;               /* reaped; status valid */
    int status;                /* waitpid() status */
    pthread_mutex_t *pid_lock; /* guards pid/exited against the cancel thread */

    unsigned char *rbuf;       /* buffered bytes from the backend's stdout */
    size_t rpos, rend, rcap;
    int32_t payload_left;      /* unread payload bytes of the current C/D packet */

    char errtail[PT_ERRTAIL];  /* last bytes the backend wrote to stderr */
    size_t errlen;
    unsigned long long errtotal;

    int timeout_ms;            /* per wait, like PTCOMM_DEFAULT_TIMEOUT */
    const volatile int *cancel; /* set by the cancel thread: give up waiting */
    pt_message_fn on_message;
    void *msg_arg;
    char why[PT_WHY];          /* reason of the last PT_FAIL / -1 */
} pt_backend;

/* Starts argv[0] with argv; fills b. Returns 0, or -1 with b->why set. */
int pt_spawn(pt_backend *b, char *const argv[]);

/* Reads the next packet header, passing message packets to on_message. */
pt_kind pt_read_header(pt_backend *b, int32_t *len);
/* Reads up to n payload bytes of the current packet into dst; returns bytes or -1. */
ssize_t pt_read_payload(pt_backend *b, void *dst, size_t n);
/* Reads and discards the rest of the current payload. Returns 0 or -1. */
int pt_skip_payload(pt_backend *b);

/* Writes one packet. Returns 0 or -1 with why set. */
int pt_write(pt_backend *b, char status, const void *payload, size_t len);

/* Sends SIGUSR1 (cancel) to a live backend; safe from another thread. */
void pt_signal(pt_backend *b, int sig);
/* Non-blocking check whether the backend has exited; reaps it if so. */
bool pt_has_exited(pt_backend *b);
/* Closes the pipes, waits grace_ms for exit, then SIGTERM (and after another grace
 * SIGKILL) and reaps. Never leaves a zombie. */
void pt_close(pt_backend *b, int grace_ms);
/* Reads what is left on stderr for up to wait_ms (used after a death). */
void pt_drain_stderr(pt_backend *b, int wait_ms);
/* "exit status 3" / "signal 9" / "still running" for a message. */
const char *pt_describe_exit(const pt_backend *b, char *buf, size_t cap);

#endif /* PODHEITOR_PTCOMM_H */
