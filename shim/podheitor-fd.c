/*
 * podheitor File Daemon plugin shim.
 *
 * One source, installed as podheitor-<name>-fd.so for every podheitor plugin. The
 * plugin learns <name> from its own file name, forks "<launcher> <name>" per plugin
 * command and drives it with the metaplugin protocol over PTCOMM frames, exactly as
 * Bacula 13/15's own metaplugin does (bacula.md section 1), plus one extension: hard
 * links carry "LSTAT:<original>" after "STAT:L ..." in both directions.
 *
 * Environment of bacula-fd (all optional):
 *   PODHEITOR_BACKEND          program to run instead of "<dir of the .so>/podheitor-backend"
 *   PODHEITOR_BACKEND_TIMEOUT  seconds one wait for the backend may take (default 3600)
 *   PODHEITOR_BACKEND_GRACE    seconds between closing the pipes, SIGTERM and SIGKILL at
 *                              the end of a job or after a cancel (default 5)
 *
 * Threading: Bacula calls one plugin instance from its job thread; only
 * bEventCancelCommand comes from another thread, and it only sets a flag and signals
 * the backends under inst.lock.
 *
 * Copyright (C) podheitor authors. License: AGPL-3.0-or-later.
 */
#include "bacula_abi.h"
#include "ptcomm.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define SHIM_VERSION "0.1.0"
#define PROTOCOL_API "1"              /* sent in "Hello <plugin> <api>" */
#define MAX_COMMAND (64 * 1024)       /* longest C packet we accept (paths, names) */
#define MAX_OBJECT (64 * 1024 * 1024) /* largest restore object we buffer */
#define DEFAULT_TIMEOUT_S 3600        /* like PTCOMM_DEFAULT_TIMEOUT */
#define DEFAULT_GRACE_S 5             /* like CUSTOMCANCELSLEEP */

static bFuncs *bfuncs;
static char prefix[96];               /* "podheitor-posix" = file name minus "-fd.so" */
static char name[96];                 /* "posix" = argument for the backend */
static char launcher[PATH_MAX];       /* "<dir of the .so>/podheitor-backend" */
static char description[160];

/* ---- small helpers ------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} dbuf;

static int dbuf_reserve(dbuf *b, size_t n)
{
    if (n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int dbuf_set(dbuf *b, const char *data, size_t n)
{
    if (dbuf_reserve(b, n) < 0) return -1;
    memcpy(b->p, data, n);
    b->p[n] = '\0';
    b->len = n;
    return 0;
}

static void dbuf_free(dbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static bool starts_with(const char *s, const char *pfx)
{
    return strncmp(s, pfx, strlen(pfx)) == 0;
}

static int env_seconds(const char *var, int dflt)
{
    const char *v = getenv(var);
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    return (v && *v && !*end && n > 0 && n < 86400 * 7) ? (int)n : dflt;
}

/* ---- plugin state -------------------------------------------------------------- */

typedef struct inst inst;

/* One backend process, one per distinct plugin command in a job (like COMMCTX). */
typedef struct session {
    struct session *next;
    inst *owner;
    char *cmd;
    dbuf params;         /* "key=value\n" lines parsed from cmd */
    pt_backend be;
    bool spawned;
    bool failed;         /* a fatal error was reported: no more traffic */
    bool abort_on_error; /* param abort_on_error: E becomes fatal */
    bool err_reported;   /* backend stderr already reported */
    bool finished;       /* FINISH exchanged */
    bool ended;          /* END exchanged */
} session;

/* A restore object received from Bacula, sent at the first file of its command. */
typedef struct robj {
    struct robj *next;
    char *cmd, *name, *data;
    int32_t len;
    bool sent;
} robj;

typedef enum { MODE_NONE, MODE_BACKUP, MODE_ESTIMATE, MODE_RESTORE } job_mode;

struct inst {
    bpContext *ctx;
    pthread_mutex_t lock;        /* session list and pids, against the cancel thread */
    volatile int cancelled;
    session *sessions, *cur;
    robj *robjs;
    int32_t job_id;
    char *job_name, *where, *regexwhere;
    int replace;
    char level;
    long long since;
    int accurate;
    job_mode mode;
    int grace_ms;
    /* backup/estimate: the file being saved */
    dbuf fname, lname, dirname, cmdbuf, acl, xattr, object;
    bool object_is_restore_obj;
    bool nextfile, need_meta, in_data, readacl, readxattr;
    /* restore: the file being restored */
    int last_type;
    bool skipextract, wrote;
    dbuf racl, rxattr;           /* directory ACL/XATTR, delayed to IO_CLOSE */
};

static inst *self(bpContext *ctx)
{
    return ctx ? (inst *)ctx->pContext : NULL;
}

/* ---- messages ------------------------------------------------------------------ */

/* Keeps the job log one line per message: control characters become spaces. */
static void sanitize(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
                     s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 32 || s[i] == 127) s[i] = ' ';
    }
}

static void jmsg(inst *p, int type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void jmsg(inst *p, int type, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    sanitize(text);
    bfuncs->JobMessage(p->ctx, __FILE__, __LINE__, type, 0, "%s: %s\n", prefix, text);
}

static void dmsg(inst *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dmsg(inst *p, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    sanitize(text);
    bfuncs->DebugMessage(p ? p->ctx : NULL, __FILE__, __LINE__, 150, "%s: %s\n", prefix, text);
}

static void on_backend_message(void *arg, char letter, const char *text)
{
    session *s = arg;
    int type;
    switch (letter) {
    case 'I': type = M_INFO; break;
    case 'W': type = M_WARNING; break;
    case 'Q': type = M_ERROR; break;
    case 'S': type = M_SAVED; break;
    case 'N': type = M_NOTSAVED; break;
    case 'R': type = M_RESTORED; break;
    case 'P': type = M_SKIPPED; break;
    case 'O': type = M_MOUNT; break;
    case 'V': type = M_EVENTS; break;
    case 'E': type = s->abort_on_error ? M_FATAL : M_ERROR; break;
    default: type = M_FATAL; break;        /* 'A' */
    }
    jmsg(s->owner, type, "%s", text);
}

/* The last non-empty line the backend wrote to stderr, into out. */
static bool stderr_last_line(const session *s, char *out, size_t cap)
{
    size_t n = s->be.errlen;
    while (n > 0 && (s->be.errtail[n - 1] == '\n' || s->be.errtail[n - 1] == '\r')) n--;
    size_t start = n;
    while (start > 0 && s->be.errtail[start - 1] != '\n') start--;
    if (n == start) return false;
    size_t len = n - start < cap - 1 ? n - start : cap - 1;
    memcpy(out, s->be.errtail + start, len);
    out[len] = '\0';
    sanitize(out);
    return true;
}

/* The backend promises never to write to stderr; if it did, say so once. */
static void report_stderr(session *s)
{
    char line[400];
    if (s->err_reported || s->be.errtotal == 0) return;
    s->err_reported = true;
    dmsg(s->owner, "backend stderr tail: %.*s", (int)s->be.errlen, s->be.errtail);
    if (stderr_last_line(s, line, sizeof(line))) {
        jmsg(s->owner, M_ERROR, "backend wrote %llu bytes to stderr, last line: %s",
             s->be.errtotal, line);
    } else {
        jmsg(s->owner, M_ERROR, "backend wrote %llu bytes to stderr", s->be.errtotal);
    }
}

/* Reports a broken session once (M_FATAL); nothing more is sent to or read from it. */
static void fail(session *s, const char *phase)
{
    inst *p = s->owner;
    char line[400];
    if (s->failed) return;
    s->failed = true;
    if (!p->cancelled) {
        pt_drain_stderr(&s->be, 100);
        if (!s->err_reported && stderr_last_line(s, line, sizeof(line))) {
            s->err_reported = true;
            jmsg(p, M_FATAL, "%s during %s; backend stderr: %s", s->be.why, phase, line);
        } else {
            jmsg(p, M_FATAL, "%s during %s", s->be.why, phase);
        }
    }
    /* The backend is stopped in close_sessions: stdin closed, a grace period, SIGTERM. */
}

static void protocol_error(session *s, const char *phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void protocol_error(session *s, const char *phase, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(s->be.why, sizeof(s->be.why), "protocol error: ");
    va_start(ap, fmt);
    vsnprintf(s->be.why + n, sizeof(s->be.why) - (size_t)n, fmt, ap);
    va_end(ap);
    fail(s, phase);
}

static const char *phase_of(const inst *p)
{
    switch (p->mode) {
    case MODE_BACKUP: return "backup";
    case MODE_ESTIMATE: return "estimate";
    case MODE_RESTORE: return "restore";
    default: return "job start";
    }
}

/* Reports a packet of the wrong kind once (E and A were already reported as sent). */
static void unexpected(session *s, pt_kind k, const char *wanted)
{
    static const char *const got[] = {"a command", "data", "F", "T", "E", "A", ""};
    if (k == PT_FAIL) {
        fail(s, phase_of(s->owner));
    } else if (k != PT_BERROR && k != PT_BABORT) {
        protocol_error(s, phase_of(s->owner), "expected %s, got %s", wanted, got[k]);
    }
}

/* ---- packets ------------------------------------------------------------------- */

static bool usable(session *s)
{
    return s && s->spawned && !s->failed && !s->owner->cancelled;
}

static int send_cmd(session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int send_cmd(session *s, const char *fmt, ...)
{
    inst *p = s->owner;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->cmdbuf.p, p->cmdbuf.cap, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= p->cmdbuf.cap) {
        if (n > PT_MAX_PAYLOAD || dbuf_reserve(&p->cmdbuf, (size_t)n) < 0) {
            snprintf(s->be.why, sizeof(s->be.why), "command too long");
            fail(s, phase_of(p));
            return -1;
        }
        va_start(ap, fmt);
        vsnprintf(p->cmdbuf.p, p->cmdbuf.cap, fmt, ap);
        va_end(ap);
    }
    if (n < 0 || pt_write(&s->be, 'C', p->cmdbuf.p, (size_t)n) < 0) {
        fail(s, phase_of(p));
        return -1;
    }
    return 0;
}

static int send_packet(session *s, char status, const void *data, size_t len)
{
    if (pt_write(&s->be, status, data, len) < 0) {
        fail(s, phase_of(s->owner));
        return -1;
    }
    return 0;
}

/* Sends data in packets of at most PT_MAX_PAYLOAD bytes. */
static int send_data(session *s, const char *data, size_t len)
{
    while (len > 0) {
        size_t n = len < PT_MAX_PAYLOAD ? len : PT_MAX_PAYLOAD;
        if (send_packet(s, 'D', data, n) < 0) return -1;
        data += n;
        len -= n;
    }
    return 0;
}

typedef enum { R_CMD, R_EOD, R_STOP } read_result;

/* Reads one packet, expecting C or F. A C payload lands NUL-terminated and
 * right-trimmed in p->cmdbuf. R_STOP: E/A from the backend (already reported, the
 * session stays usable) or a failure (reported, session failed). */
static read_result read_cmd(session *s)
{
    inst *p = s->owner;
    int32_t len;
    pt_kind k = pt_read_header(&s->be, &len);
    if (k == PT_EOD) return R_EOD;
    if (k != PT_CMD) {
        unexpected(s, k, "a command or F");
        return R_STOP;
    }
    if (len > MAX_COMMAND || dbuf_reserve(&p->cmdbuf, (size_t)len) < 0) {
        protocol_error(s, phase_of(p), "command packet of %d bytes", (int)len);
        return R_STOP;
    }
    if (pt_read_payload(&s->be, p->cmdbuf.p, (size_t)len) < 0) {
        fail(s, phase_of(p));
        return R_STOP;
    }
    p->cmdbuf.p[len] = '\0';
    p->cmdbuf.len = (size_t)len;
    while (p->cmdbuf.len > 0 && strchr(" \t\r\n", p->cmdbuf.p[p->cmdbuf.len - 1])) {
        p->cmdbuf.p[--p->cmdbuf.len] = '\0';
    }
    return R_CMD;
}

/* Expects F (the backend's acknowledgement of a block). */
static int read_ack(session *s, const char *what)
{
    read_result r = read_cmd(s);
    if (r == R_EOD) return 0;
    if (r == R_CMD) {
        protocol_error(s, phase_of(s->owner), "expected F after %s, got \"%.80s\"", what,
                       s->owner->cmdbuf.p);
    }
    return -1;
}

/* Expects C "OK" (restore acknowledgements). */
static int read_ok(session *s, const char *what)
{
    read_result r = read_cmd(s);
    if (r == R_CMD && strcmp(s->owner->cmdbuf.p, "OK") == 0) return 0;
    if (r == R_CMD) {
        protocol_error(s, phase_of(s->owner), "expected OK after %s, got \"%.80s\"", what,
                       s->owner->cmdbuf.p);
    } else if (r == R_EOD) {
        protocol_error(s, phase_of(s->owner), "expected OK after %s, got F", what);
    }
    return -1;
}

/* ---- session setup: handshake, Job, Params, start command ---------------------- */

/* Appends "key=value\n" params parsed from "name: k=v k2 k3=\"a b\"" (spaces or ';'). */
static int parse_params(const char *cmd, dbuf *out, bool *abort_on_error)
{
    const char *c = strchr(cmd, ':');
    out->len = 0;
    if (dbuf_reserve(out, strlen(cmd) * 2 + 16) < 0) return -1;
    if (!c) {
        return 0;                         /* bare plugin name, no parameters */
    }
    for (c++;;) {
        while (*c == ' ' || *c == '\t' || *c == ';') c++;
        if (!*c) return 0;
        size_t start = out->len, key_len = 0;
        bool quoted = false, has_value = false;
        for (; *c && (quoted || !strchr(" \t;", *c)); c++) {
            if (*c == '"') {
                quoted = !quoted;
                continue;
            }
            if (*c == '\\' && quoted && c[1]) {
                c++;
            } else if (*c == '=' && !has_value && !quoted) {
                has_value = true;
                key_len = out->len - start;
            }
            if (*c == '\n') return -1;
            out->p[out->len++] = *c;
        }
        if (quoted || (has_value && key_len == 0)) return -1;
        if (!has_value) {
            key_len = out->len - start;
            memcpy(out->p + out->len, "=1", 2);
            out->len += 2;
        }
        out->p[out->len++] = '\n';
        out->p[out->len] = '\0';
        if (key_len == 14 && strncasecmp(out->p + start, "abort_on_error", 14) == 0) {
            *abort_on_error = out->p[start + 15] != '0';   /* as 13/15: value not "0..." */
        }
    }
}

static int send_job_block(session *s, char type)
{
    inst *p = s->owner;
    char *workdir = NULL, *exepath = NULL;
    bfuncs->getBaculaValue(p->ctx, VAR_WORKING_DIR, &workdir);
    bfuncs->getBaculaValue(p->ctx, VAR_EXE_PATH, &exepath);
    if (send_cmd(s, "Job\n") || send_cmd(s, "Name=%s\n", p->job_name ? p->job_name : "") ||
        send_cmd(s, "JobID=%d\n", (int)p->job_id) || send_cmd(s, "Type=%c\n", type)) {
        return -1;
    }
    if (type != 'R' && p->level && send_cmd(s, "Level=%c\n", p->level)) return -1;
    if (p->since && send_cmd(s, "Since=%lld\n", p->since)) return -1;
    if (p->where && send_cmd(s, "Where=%s\n", p->where)) return -1;
    if (p->regexwhere && send_cmd(s, "RegexWhere=%s\n", p->regexwhere)) return -1;
    if (p->replace && send_cmd(s, "Replace=%c\n", p->replace)) return -1;
    if (workdir && send_cmd(s, "WorkingDir=%s\n", workdir)) return -1;
#if BACULA_API == 23
    char *sysconf = NULL;
    bfuncs->getBaculaValue(p->ctx, VAR_SYSCONFIG_PATH, &sysconf);
    if (sysconf && send_cmd(s, "SysconfigPath=%s\n", sysconf)) return -1;
#endif
    if (exepath && send_cmd(s, "ExePath=%s\n", exepath)) return -1;
    return send_packet(s, 'F', NULL, 0) || read_ack(s, "Job");
}

static int send_params_block(session *s)
{
    if (send_cmd(s, "Params\n")) return -1;
    for (char *line = s->params.p; line && *line;) {
        char *nl = strchr(line, '\n');
        if (send_packet(s, 'C', line, (size_t)(nl - line + 1)) < 0) return -1;
        line = nl + 1;
    }
    return send_packet(s, 'F', NULL, 0) || read_ack(s, "Params");
}

/* BackupStart/EstimateStart/...: the backend answers F; like 15.0 we skip C packets. */
static int send_start(session *s, const char *start)
{
    read_result r;
    if (send_cmd(s, "%s\n", start)) return -1;
    while ((r = read_cmd(s)) == R_CMD) {
        if (starts_with(s->owner->cmdbuf.p, "PIPE:")) {
            protocol_error(s, "restore", "PIPE: is not supported by this plugin");
            return -1;
        }
        dmsg(s->owner, "ignored answer to %s: %s", start, s->owner->cmdbuf.p);
    }
    return r == R_EOD ? 0 : -1;
}

static const char *start_command(const session *s, char type)
{
    if (type == 'B') return "BackupStart";
    if (type == 'R') return "RestoreStart";
    /* Estimate with a "listing=<path>" param is a listing, as in 13/15. (QueryStart
     * needs queryParameter, which the 9.x plugin API does not have.) */
    for (const char *l = s->params.p; l && *l; l = strchr(l, '\n') + 1) {
        if (strncasecmp(l, "listing=", 8) == 0 && strncmp(l + 8, "1\n", 2) != 0) {
            return "ListingStart";
        }
    }
    return "EstimateStart";
}

static session *find_session(inst *p, const char *cmd)
{
    for (session *s = p->sessions; s; s = s->next) {
        if (strcmp(s->cmd, cmd) == 0) return s;
    }
    return NULL;
}

static bool our_command(const char *cmd)
{
    size_t n = strlen(prefix);
    return cmd && strncmp(cmd, prefix, n) == 0 && (cmd[n] == ':' || cmd[n] == '\0');
}

/* Starts a backend for cmd and runs handshake, Job, Params and the start command.
 * A command already running in this job is reused (restore sends it per file). */
static bRC prepare(inst *p, char type, const char *cmd)
{
    if (!our_command(cmd)) return bRC_OK;
    session *s = find_session(p, cmd);
    if (s) {
        if (type != 'R') {
            jmsg(p, M_FATAL, "plugin command defined twice in the FileSet: \"%s\"", cmd);
            return bRC_Error;
        }
        p->cur = s;
        return usable(s) ? bRC_OK : bRC_Error;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->cmd = strdup(cmd))) {
        free(s);
        jmsg(p, M_FATAL, "out of memory");
        return bRC_Error;
    }
    s->owner = p;
    if (parse_params(cmd, &s->params, &s->abort_on_error) < 0) {
        jmsg(p, M_FATAL, "cannot parse plugin command: %s", cmd);
        dbuf_free(&s->params);
        free(s->cmd);
        free(s);
        return bRC_Error;
    }
    s->be.pid_lock = &p->lock;
    s->be.to_fd = s->be.from_fd = s->be.err_fd = -1;
    s->be.timeout_ms = env_seconds("PODHEITOR_BACKEND_TIMEOUT", DEFAULT_TIMEOUT_S) * 1000;
    s->be.cancel = &p->cancelled;
    s->be.on_message = on_backend_message;
    s->be.msg_arg = s;
    pthread_mutex_lock(&p->lock);
    s->next = p->sessions;
    p->sessions = s;
    pthread_mutex_unlock(&p->lock);
    p->cur = s;

    const char *env = getenv("PODHEITOR_BACKEND");
    char *argv[] = {(char *)(env && *env ? env : launcher), name, NULL};
    dmsg(p, "starting backend %s %s for \"%s\"", argv[0], name, cmd);
    s->spawned = true;
    if (pt_spawn(&s->be, argv) < 0) {
        fail(s, "backend start");
        return bRC_Error;
    }
    if (send_cmd(s, "Hello %s %s\n", prefix, PROTOCOL_API)) return bRC_Error;
    read_result r = read_cmd(s);
    if (r != R_CMD || strcmp(p->cmdbuf.p, "Hello Bacula") != 0) {
        if (r == R_CMD) {
            protocol_error(s, "handshake", "wrong answer to Hello: \"%.80s\"", p->cmdbuf.p);
        } else if (r == R_EOD) {
            protocol_error(s, "handshake", "wrong answer to Hello: F");
        }
        return bRC_Error;
    }
    if (send_job_block(s, type) || send_params_block(s) ||
        send_start(s, start_command(s, type))) {
        return bRC_Error;
    }
    return bRC_OK;
}

/* ---- backup -------------------------------------------------------------------- */

/* Reads ACL/XATTR data: one D packet, then F (an immediate F means empty). */
static int read_xacl(session *s, dbuf *into, const char *what)
{
    int32_t len;
    pt_kind k = pt_read_header(&s->be, &len);
    into->len = 0;
    if (k == PT_EOD) return 0;
    if (k != PT_DATA) {
        unexpected(s, k, what);
        return -1;
    }
    if (dbuf_reserve(into, (size_t)len) < 0 || pt_read_payload(&s->be, into->p, (size_t)len) < 0) {
        fail(s, phase_of(s->owner));
        return -1;
    }
    into->len = (size_t)len;
    return read_ack(s, what);
}

/* Parses "STAT:t size uid gid mode-octal nlink [LinkFI]" like Bacula's sscanf. */
static int parse_stat(const char *line, struct stat *st, int *type, int32_t *link_fi)
{
    char t;
    long long size;
    int uid, gid, nlink, fi = -1;
    unsigned mode;
    int n = sscanf(line, "STAT:%c %lld %d %d %o %d %d", &t, &size, &uid, &gid, &mode, &nlink,
                   &fi);
    if (n < 6) return -1;
    st->st_size = size;
    st->st_uid = (uid_t)uid;
    st->st_gid = (gid_t)gid;
    st->st_mode = mode;
    st->st_nlink = (nlink_t)nlink;
    switch (t) {
    case 'F': *type = FT_REG; break;
    case 'E': *type = FT_REGE; break;
    case 'D': *type = FT_DIREND; break;
    case 'S': *type = FT_LNK; break;
    case 'L':
        if (n < 7) return -1;
        *type = FT_LNKSAVED;
        *link_fi = fi;
        break;
    default:
        return -2;
    }
    return 0;
}

/* Accurate check: "CHECK:<fname>" then STAT and TSTAMP; we answer SEEN or OK. */
static int accurate_check(session *s, const char *fname)
{
    inst *p = s->owner;
    struct save_pkt sp;
    int32_t fi = 0;
    long long a, m, c;
    char *name_copy = strdup(fname);
    bRC rc = bRC_OK;
    memset(&sp, 0, sizeof(sp));
    if (!name_copy || read_cmd(s) != R_CMD || parse_stat(p->cmdbuf.p, &sp.statp, &sp.type, &fi) ||
        read_cmd(s) != R_CMD || sscanf(p->cmdbuf.p, "TSTAMP:%lld %lld %lld", &a, &m, &c) != 3) {
        free(name_copy);
        if (usable(s)) protocol_error(s, "backup", "CHECK needs STAT and TSTAMP");
        return -1;
    }
    sp.statp.st_atime = a;
    sp.statp.st_mtime = m;
    sp.statp.st_ctime = c;
    sp.pkt_size = sp.pkt_end = sizeof(sp);
    sp.fname = name_copy;
    if (p->accurate) rc = bfuncs->checkChanges(p->ctx, &sp);
    free(name_copy);
    return send_cmd(s, "%s\n", rc == bRC_Seen ? "SEEN" : "OK");
}

/* Reads between files: ACL, XATTR, FileIndex, CHECK, CHECKGET ... until the next
 * FNAME:/RESTOREOBJ: (nextfile) or F (no more files). */
static int read_metacommands(session *s)
{
    inst *p = s->owner;
    p->nextfile = p->readacl = p->readxattr = false;
    p->need_meta = false;
    for (;;) {
        read_result r = read_cmd(s);
        if (r == R_EOD) return 0;
        if (r != R_CMD) return -1;
        const char *c = p->cmdbuf.p;
        if (starts_with(c, "FNAME:") || starts_with(c, "RESTOREOBJ:")) {
            p->object_is_restore_obj = c[0] == 'R';
            const char *v = strchr(c, ':') + 1;
            if (dbuf_set(&p->fname, v, strlen(v)) < 0) return -1;
            p->nextfile = true;
            return 0;
        } else if (strcmp(c, "ACL") == 0) {
            if (read_xacl(s, &p->acl, "ACL")) return -1;
            p->readacl = true;
        } else if (strcmp(c, "XATTR") == 0) {
            if (read_xacl(s, &p->xattr, "XATTR")) return -1;
            p->readxattr = true;
        } else if (strcmp(c, "FileIndex") == 0) {
            int fi = 0;
            bfuncs->getBaculaValue(p->ctx, VAR_FILE_INDEX, &fi);
            if (send_cmd(s, "%d\n", fi)) return -1;
        } else if (starts_with(c, "CHECK:")) {
            if (accurate_check(s, c + 6)) return -1;
        } else if (starts_with(c, "CHECKGET:")) {
            /* Accurate attributes need the 13.x+ API; answer like a non-accurate job. */
            if (p->accurate ? send_cmd(s, "UNAVAIL\n") : send_packet(s, 'E', "NOACCJOB\n", 9)) {
                return -1;
            }
        } else {
            protocol_error(s, phase_of(p), "unknown command \"%.80s\"", c);
            return -1;
        }
    }
}

/* RESTOREOBJ:<name> was read: RESTOREOBJ_LEN:<n>, then D packets, then F. */
static int read_restore_object(session *s, struct save_pkt *sp)
{
    inst *p = s->owner;
    char *end;
    int32_t len;
    unsigned long long want = 0;
    if (read_cmd(s) != R_CMD) return -1;
    const char *v = p->cmdbuf.p + 15;
    if (!starts_with(p->cmdbuf.p, "RESTOREOBJ_LEN:") || *v < '0' || *v > '9' ||
        (want = strtoull(v, &end, 10), *end) || want > MAX_OBJECT) {
        protocol_error(s, "backup", "expected RESTOREOBJ_LEN, got \"%.80s\"", p->cmdbuf.p);
        return -1;
    }
    p->object.len = 0;
    for (;;) {
        pt_kind k = pt_read_header(&s->be, &len);
        if (k == PT_EOD) break;
        if (k != PT_DATA) {
            unexpected(s, k, "restore object data");
            return -1;
        }
        if (p->object.len + (size_t)len > MAX_OBJECT ||
            dbuf_reserve(&p->object, p->object.len + (size_t)len) < 0 ||
            pt_read_payload(&s->be, p->object.p + p->object.len, (size_t)len) < 0) {
            protocol_error(s, "backup", "restore object too large or unreadable");
            return -1;
        }
        p->object.len += (size_t)len;
    }
    if (p->object.len != want) {
        jmsg(p, M_ERROR, "restore object %s: announced %llu bytes, got %zu", p->fname.p, want,
             p->object.len);
    }
    if (dbuf_reserve(&p->object, p->object.len) < 0) return -1;
#if BACULA_API == 14
    sp->object_name = p->fname.p;
    sp->object = p->object.p;
    sp->object_len = (int32_t)p->object.len;
#else
    sp->restore_obj.object_name = p->fname.p;
    sp->restore_obj.object = p->object.p;
    sp->restore_obj.object_len = (int32_t)p->object.len;
#endif
    sp->type = FT_RESTORE_FIRST;
    sp->statp.st_size = (off_t)p->object.len;
    sp->statp.st_mode = 0700 | S_IFREG;
    sp->statp.st_atime = sp->statp.st_mtime = sp->statp.st_ctime = time(NULL);
    return 0;
}

/* The attribute block after FNAME: STAT, TSTAMP, LSTAT ... until F. */
static int read_attributes(session *s, struct save_pkt *sp)
{
    inst *p = s->owner;
    bool have_stat = false, have_lstat = false;
    read_result r;
    while ((r = read_cmd(s)) == R_CMD) {
        const char *c = p->cmdbuf.p;
        long long a, m, ct;
        if (starts_with(c, "STAT:")) {
            int rc = parse_stat(c, &sp->statp, &sp->type, &sp->LinkFI);
            if (rc) {
                protocol_error(s, phase_of(p), "%s \"%.80s\" for %.200s",
                               rc == -2 ? "invalid file type in" : "invalid", c, p->fname.p);
                return -1;
            }
            have_stat = true;
        } else if (sscanf(c, "TSTAMP:%lld %lld %lld", &a, &m, &ct) == 3) {
            sp->statp.st_atime = a;
            sp->statp.st_mtime = m;
            sp->statp.st_ctime = ct;
        } else if (starts_with(c, "LSTAT:")) {
            if (dbuf_set(&p->lname, c + 6, strlen(c + 6)) < 0) return -1;
            have_lstat = true;
        } else {
            protocol_error(s, phase_of(p), "invalid file attributes command \"%.80s\"", c);
            return -1;
        }
    }
    if (r != R_EOD) return -1;
    if (!have_stat || (sp->type == FT_LNK && !have_lstat)) {
        protocol_error(s, phase_of(p), "not enough file attributes for %.200s", p->fname.p);
        return -1;
    }
    sp->fname = p->fname.p;
    if (have_lstat) {
        sp->link = p->lname.p;         /* symlink target, or original of a hard link */
    }
    if (sp->type == FT_DIREND) {
        /* Bacula records directories under "link" with a trailing slash. */
        bool slash = p->fname.len > 0 && p->fname.p[p->fname.len - 1] == '/';
        if (dbuf_set(&p->dirname, p->fname.p, p->fname.len) < 0 ||
            (!slash && dbuf_reserve(&p->dirname, p->fname.len + 1) < 0)) {
            return -1;
        }
        if (!slash) strcpy(p->dirname.p + p->fname.len, "/");
        sp->link = p->dirname.p;
    }
    return 0;
}

static bRC start_backup_file(inst *p, struct save_pkt *sp)
{
    session *s = p->cur;
    if (!usable(s)) return bRC_Error;
    if (!p->nextfile) {
        if (read_metacommands(s) < 0) return bRC_Error;
        if (!p->nextfile) {
            return bRC_Max;         /* no files at all */
        }
    }
    p->nextfile = false;
    sp->fname = p->fname.p;
    if (p->object_is_restore_obj ? read_restore_object(s, sp) : read_attributes(s, sp)) {
        return bRC_Error;
    }
    sp->portable = true;
    sp->statp.st_blksize = 4096;
    sp->statp.st_blocks = sp->statp.st_size / 4096 + 1;
    /* The FD does IO (and so IO_CLOSE reads what follows) only for real files. */
    p->need_meta = true;
    p->in_data = false;
    return bRC_OK;
}

static bRC end_backup_file(inst *p)
{
    session *s = p->cur;
    if (!usable(s)) return bRC_Error;
    if (p->need_meta && read_metacommands(s) < 0) return bRC_Error;
    return p->nextfile ? bRC_More : bRC_OK;
}

static bRC backup_io(inst *p, session *s, struct io_pkt *io)
{
    int32_t len;
    switch (io->func) {
    case IO_OPEN: {
        read_result r = read_cmd(s);
        if (r == R_CMD && strcmp(p->cmdbuf.p, "DATA") == 0) {
            p->in_data = true;
            return bRC_OK;
        }
        if (r == R_CMD) {
            protocol_error(s, "backup", "expected DATA or F, got \"%.80s\"", p->cmdbuf.p);
        }
        return r == R_EOD ? bRC_OK : bRC_Error;
    }
    case IO_READ:
        if (!p->in_data) {
            return bRC_OK;           /* status 0: end of file */
        }
        while (s->be.payload_left == 0) {
            pt_kind k = pt_read_header(&s->be, &len);
            if (k == PT_EOD) {
                p->in_data = false;
                return bRC_OK;
            }
            if (k != PT_DATA) {
                unexpected(s, k, "file data");
                io->io_errno = EIO;
                return bRC_Error;
            }
        }
        {
            ssize_t n = pt_read_payload(&s->be, io->buf, (size_t)io->count);
            if (n < 0) {
                fail(s, "backup");
                io->io_errno = EIO;
                return bRC_Error;
            }
            io->status = (int32_t)n;
        }
        return bRC_OK;
    case IO_CLOSE:
        /* If Bacula stopped reading early, skip the rest of the file's data. */
        while (p->in_data) {
            pt_kind k = pt_read_header(&s->be, &len);
            if (k == PT_EOD) {
                p->in_data = false;
            } else if (k != PT_DATA) {
                unexpected(s, k, "file data");
                return bRC_Error;
            }
        }
        return read_metacommands(s) < 0 ? bRC_Error : bRC_OK;
    default:
        io->io_errno = ENOSYS;
        return bRC_Error;
    }
}

/* ---- restore ------------------------------------------------------------------- */

static int send_restore_objects(inst *p, session *s, const char *cmd)
{
    for (robj *o = p->robjs; o; o = o->next) {
        if (o->sent || strcmp(o->cmd, cmd) != 0) continue;
        o->sent = true;
        if (send_cmd(s, "RESTOREOBJ:%s\n", o->name) ||
            send_cmd(s, "RESTOREOBJ_LEN:%d\n", (int)o->len) ||
            send_data(s, o->data, (size_t)o->len) || send_packet(s, 'F', NULL, 0) ||
            read_ok(s, "RESTOREOBJ")) {
            return -1;
        }
    }
    return 0;
}

static int keep_restore_object(inst *p, const struct restore_object_pkt *rop)
{
    robj *o = calloc(1, sizeof(*o));
    if (!o || rop->object_len < 0) {
        free(o);
        return -1;
    }
    o->cmd = strdup(rop->plugin_name ? rop->plugin_name : "");
    o->name = strdup(rop->object_name ? rop->object_name : "");
    o->data = malloc((size_t)rop->object_len + 1);
    if (!o->cmd || !o->name || !o->data) {
        free(o->cmd); free(o->name); free(o->data); free(o);
        return -1;
    }
    memcpy(o->data, rop->object, (size_t)rop->object_len);
    o->len = rop->object_len;
    o->next = p->robjs;
    p->robjs = o;
    return 0;
}

static char stat_letter(int type)
{
    switch (type) {
    case FT_REGE: return 'E';
    case FT_DIREND: return 'D';
    case FT_LNK: return 'S';
    case FT_LNKSAVED: return 'L';
    default: return 'F';
    }
}

static bRC create_file(inst *p, struct restore_pkt *rp)
{
    session *s = p->cur;
    rp->create_status = CF_ERROR;
    if (!usable(s)) return bRC_Error;
    p->skipextract = false;
    p->racl.len = p->rxattr.len = 0;
    p->last_type = rp->type;
    if (send_cmd(s, "FNAME:%s\n", rp->ofname) ||
        send_cmd(s, "STAT:%c %lld %d %d %06o %d %d\n", stat_letter(rp->type),
                 (long long)rp->statp.st_size, (int)rp->statp.st_uid, (int)rp->statp.st_gid,
                 (unsigned)rp->statp.st_mode, (int)rp->statp.st_nlink, (int)rp->LinkFI) ||
        send_cmd(s, "TSTAMP:%lld %lld %lld\n", (long long)rp->statp.st_atime,
                 (long long)rp->statp.st_mtime, (long long)rp->statp.st_ctime)) {
        return bRC_Error;
    }
    /* Bacula's metaplugin sends LSTAT for symlinks only; podheitor also for hard links. */
    if ((rp->type == FT_LNK || rp->type == FT_LNKSAVED) && rp->olname &&
        send_cmd(s, "LSTAT:%s\n", rp->olname)) {
        return bRC_Error;
    }
    if (send_packet(s, 'F', NULL, 0)) return bRC_Error;
    read_result r = read_cmd(s);
    if (r != R_CMD) {
        if (r == R_EOD) protocol_error(s, "restore", "expected OK, SKIP or CORE, got F");
        return bRC_Error;           /* an E answer refuses this file only */
    }
    if (strcmp(p->cmdbuf.p, "OK") == 0) {
        rp->create_status = CF_EXTRACT;
    } else if (strcmp(p->cmdbuf.p, "SKIP") == 0) {
        rp->create_status = CF_SKIP;
        p->skipextract = true;
    } else if (strcmp(p->cmdbuf.p, "CORE") == 0) {
        rp->create_status = CF_CORE;
    } else {
        protocol_error(s, "restore", "wrong answer to a file: \"%.80s\"", p->cmdbuf.p);
        return bRC_Error;
    }
    return bRC_OK;
}

static int send_xacl(session *s, const char *what, const char *data, size_t len)
{
    if (len == 0) return 0;
    return send_cmd(s, "%s\n", what) || send_data(s, data, len) ||
           send_packet(s, 'F', NULL, 0) || read_ok(s, what);
}

static bRC restore_io(inst *p, session *s, struct io_pkt *io)
{
    switch (io->func) {
    case IO_OPEN:
        p->wrote = false;
        return bRC_OK;
    case IO_WRITE:
        if (!p->wrote && send_cmd(s, "DATA\n")) return bRC_Error;
        p->wrote = true;
        if (io->count < 0 || send_data(s, io->buf, (size_t)io->count)) {
            io->io_errno = EIO;
            return bRC_Error;
        }
        io->status = io->count;
        return bRC_OK;
    case IO_CLOSE:
        if (p->wrote && (send_packet(s, 'F', NULL, 0) || read_ok(s, "file data"))) {
            io->io_errno = EIO;
            return bRC_Error;
        }
        p->wrote = false;
        /* Directory ACL/XATTR arrive before the close; send them now, as 13/15 do. */
        if (p->last_type == FT_DIREND &&
            (send_xacl(s, "ACL", p->racl.p, p->racl.len) ||
             send_xacl(s, "XATTR", p->rxattr.p, p->rxattr.len))) {
            return bRC_Error;
        }
        p->racl.len = p->rxattr.len = 0;
        return bRC_OK;
    default:
        io->io_errno = ENOSYS;
        return bRC_Error;
    }
}

/* ---- job end ------------------------------------------------------------------- */

static void finish_restores(inst *p)
{
    for (session *s = p->sessions; s; s = s->next) {
        if (usable(s) && !s->finished) {
            s->finished = true;
            if (send_cmd(s, "FINISH\n") == 0) read_ack(s, "FINISH");
        }
        report_stderr(s);
    }
}

/* END, F, T: at bEventJobEnd, or at freePlugin when Bacula sends no JobEnd (estimate). */
static void end_sessions(inst *p)
{
    for (session *s = p->sessions; s; s = s->next) {
        if (usable(s) && !s->ended) {
            s->ended = true;
            if (send_cmd(s, "END\n") == 0 && read_ack(s, "END") == 0) {
                pt_write(&s->be, 'T', NULL, 0);
            }
        }
        report_stderr(s);
    }
}

static void close_sessions(inst *p)
{
    pthread_mutex_lock(&p->lock);        /* detach: the cancel thread must not see them */
    session *s = p->sessions;
    p->sessions = p->cur = NULL;
    pthread_mutex_unlock(&p->lock);
    while (s) {
        session *next = s->next;
        if (s->spawned) {
            pt_close(&s->be, p->grace_ms);
            char st[64];
            dmsg(p, "backend for \"%s\" ended (%s)", s->cmd,
                 pt_describe_exit(&s->be, st, sizeof(st)));
        }
        dbuf_free(&s->params);
        free(s->cmd);
        free(s);
        s = next;
    }
}

/* ---- Bacula entry points ------------------------------------------------------- */

static bRC newPlugin(bpContext *ctx)
{
    inst *p = calloc(1, sizeof(*p));
    if (!p || dbuf_reserve(&p->cmdbuf, 4096) < 0) {
        free(p);
        return bRC_Error;
    }
    /* Recursive: the cancel handler holds it over the list while pt_signal takes it. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&p->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    p->ctx = ctx;
    p->grace_ms = env_seconds("PODHEITOR_BACKEND_GRACE", DEFAULT_GRACE_S) * 1000;
    ctx->pContext = p;
    return bRC_OK;
}

static bRC freePlugin(bpContext *ctx)
{
    inst *p = self(ctx);
    if (!p) return bRC_Error;
    end_sessions(p);
    close_sessions(p);
    for (robj *o = p->robjs, *next; o; o = next) {
        next = o->next;
        free(o->cmd); free(o->name); free(o->data); free(o);
    }
    dbuf *bufs[] = {&p->fname, &p->lname, &p->dirname, &p->cmdbuf, &p->acl, &p->xattr,
                    &p->object, &p->racl, &p->rxattr};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) dbuf_free(bufs[i]);
    free(p->job_name);
    free(p->where);
    free(p->regexwhere);
    pthread_mutex_destroy(&p->lock);
    free(p);
    ctx->pContext = NULL;
    return bRC_OK;
}

static bRC getPluginValue(bpContext *ctx, int var, void *value)
{
    (void)ctx; (void)var; (void)value;
    return bRC_OK;
}

static bRC setPluginValue(bpContext *ctx, int var, void *value)
{
    (void)ctx; (void)var; (void)value;
    return bRC_OK;
}

static char *dup_var(inst *p, int var)
{
    char *v = NULL;
    return bfuncs->getBaculaValue(p->ctx, var, &v) == bRC_OK && v ? strdup(v) : NULL;
}

static bRC handlePluginEvent(bpContext *ctx, bEvent *event, void *value)
{
    inst *p = self(ctx);
    if (!p) return bRC_Error;
    if (event->eventType == EV_CANCEL_COMMAND) {   /* another thread */
        p->cancelled = 1;
        pthread_mutex_lock(&p->lock);
        for (session *s = p->sessions; s; s = s->next) pt_signal(&s->be, SIGUSR1);
        pthread_mutex_unlock(&p->lock);
        return bRC_OK;
    }
    if (p->cancelled) return bRC_Error;
    switch (event->eventType) {
    case EV_JOB_START: {
        char *job = NULL;
        int id = 0;
        bfuncs->getBaculaValue(ctx, VAR_JOB_ID, &id);
        bfuncs->getBaculaValue(ctx, VAR_JOB_NAME, &job);
        p->job_id = id;
        p->job_name = job ? strdup(job) : NULL;
        break;
    }
    case EV_LEVEL: {
        char lvl = (char)((intptr_t)value & 0xff);
        p->level = (lvl == 'F' || lvl == 'I' || lvl == 'D') ? lvl : 0;
        break;
    }
    case EV_SINCE:
        p->since = (long long)(intptr_t)value;
        break;
    case EV_START_RESTORE_JOB:
        p->mode = MODE_RESTORE;
        p->where = dup_var(p, VAR_WHERE);
        p->regexwhere = dup_var(p, VAR_REGEX_WHERE);
        bfuncs->getBaculaValue(ctx, VAR_REPLACE, &p->replace);
        break;
    case EV_PLUGIN_COMMAND:
        bfuncs->getBaculaValue(ctx, VAR_ACCURATE, &p->accurate);
        if (our_command(value) && !getenv("PODHEITOR_BACKEND") && access(launcher, X_OK) < 0) {
            jmsg(p, M_FATAL, "cannot use backend launcher %s: %s", launcher, strerror(errno));
            return bRC_Error;
        }
        break;
    case EV_OPTION_PLUGIN:
    case EV_HANDLE_BACKUP_FILE:
        if (our_command(value)) {
            jmsg(p, M_FATAL, "%s cannot be used as an Options plugin; put Plugin = \"%s: ...\" "
                 "into the Include block", prefix, prefix);
            return bRC_Error;
        }
        break;
    case EV_BACKUP_COMMAND:
        p->mode = MODE_BACKUP;
        return prepare(p, 'B', value);
    case EV_ESTIMATE_COMMAND:
        p->mode = MODE_ESTIMATE;
        return prepare(p, 'E', value);
    case EV_RESTORE_COMMAND:
        p->mode = MODE_RESTORE;
        return prepare(p, 'R', value);
    case EV_RESTORE_OBJECT:
        if (value && keep_restore_object(p, value) < 0) {
            jmsg(p, M_FATAL, "cannot keep restore object");
            return bRC_Error;
        }
        break;
    case EV_END_BACKUP_JOB:
        for (session *s = p->sessions; s; s = s->next) report_stderr(s);
        break;
    case EV_END_RESTORE_JOB:
        finish_restores(p);
        break;
    case EV_JOB_END:
        end_sessions(p);
        break;
    default:
        break;
    }
    return bRC_OK;
}

static bRC startBackupFile(bpContext *ctx, struct save_pkt *sp)
{
    inst *p = self(ctx);
    return p && !p->cancelled ? start_backup_file(p, sp) : bRC_Error;
}

static bRC endBackupFile(bpContext *ctx)
{
    inst *p = self(ctx);
    return p && !p->cancelled ? end_backup_file(p) : bRC_Error;
}

static bRC startRestoreFile(bpContext *ctx, const char *cmd)
{
    inst *p = self(ctx);
    if (!p || !usable(p->cur)) return bRC_Error;
    return send_restore_objects(p, p->cur, cmd) ? bRC_Error : bRC_OK;
}

static bRC endRestoreFile(bpContext *ctx)
{
    return self(ctx) ? bRC_OK : bRC_Error;
}

static bRC pluginIO(bpContext *ctx, struct io_pkt *io)
{
    inst *p = self(ctx);
    io->status = 0;
    io->io_errno = 0;
    if (!p || p->cancelled || !p->cur || !p->cur->spawned) {
        io->status = -1;
        io->io_errno = EIO;
        return bRC_Error;
    }
    bRC rc = bRC_OK;
    if (!p->cur->failed) {
        rc = p->mode == MODE_RESTORE ? restore_io(p, p->cur, io) : backup_io(p, p->cur, io);
    }
    if (p->cur->failed) {
        /* The job already has its one fatal message; an I/O error here would only add
         * "Read error on file ..." lines from Bacula's core. */
        io->status = io->func == IO_WRITE ? io->count : 0;
        io->io_errno = 0;
        return bRC_OK;
    }
    if (rc != bRC_OK) io->status = -1;
    return rc;
}

static bRC createFile(bpContext *ctx, struct restore_pkt *rp)
{
    inst *p = self(ctx);
    return p && !p->cancelled ? create_file(p, rp) : bRC_Error;
}

static bRC setFileAttributes(bpContext *ctx, struct restore_pkt *rp)
{
    (void)rp;                       /* the backend applies STAT/TSTAMP itself */
    return self(ctx) ? bRC_OK : bRC_Error;
}

/* Accurate mode asks every plugin about each file the job did not see. Names in our
 * namespace (/@<plugin>/) or under a "path=" root of one of this job's commands belong to
 * the backend, which decides itself what changed (like the metaplugin's namespace). */
static bool under(const char *fname, const char *root, size_t n)
{
    while (n > 1 && root[n - 1] == '/') n--;
    return strncmp(fname, root, n) == 0 && (fname[n] == '/' || fname[n] == '\0' || n == 1);
}

static bRC checkFile(bpContext *ctx, char *fname)
{
    inst *p = self(ctx);
    char ns[128];
    snprintf(ns, sizeof(ns), "/@%s/", prefix);
    if (!fname || starts_with(fname, ns)) return fname ? bRC_Seen : bRC_OK;
    for (session *s = p ? p->sessions : NULL; s; s = s->next) {
        for (const char *l = s->params.p; l && *l; l = strchr(l, '\n') + 1) {
            if (strncmp(l, "path=", 5) == 0 && under(fname, l + 5, strcspn(l + 5, "\n"))) {
                return bRC_Seen;
            }
        }
    }
    return bRC_OK;
}

static bRC handleXACLdata(bpContext *ctx, struct xacl_pkt *xacl)
{
    inst *p = self(ctx);
    if (!p || p->cancelled) return bRC_Error;
    bool acl = xacl->func == XACL_ACL_BACKUP || xacl->func == XACL_ACL_RESTORE;
    switch (xacl->func) {
    case XACL_ACL_BACKUP:
    case XACL_XATTR_BACKUP: {
        bool *ready = acl ? &p->readacl : &p->readxattr;
        dbuf *b = acl ? &p->acl : &p->xattr;
        xacl->count = *ready ? (int32_t)b->len : 0;
        xacl->content = *ready ? b->p : NULL;
        *ready = false;
        return bRC_OK;
    }
    case XACL_ACL_RESTORE:
    case XACL_XATTR_RESTORE:
        if (p->skipextract || xacl->count <= 0) return bRC_OK;
        if (!usable(p->cur)) return bRC_Error;
        if (p->last_type == FT_DIREND) {  /* delayed to IO_CLOSE, see restore_io */
            return dbuf_set(acl ? &p->racl : &p->rxattr, xacl->content, (size_t)xacl->count)
                   ? bRC_Error : bRC_OK;
        }
        return send_xacl(p->cur, acl ? "ACL" : "XATTR", xacl->content, (size_t)xacl->count)
               ? bRC_Error : bRC_OK;
    default:
        return bRC_Error;
    }
}

static pInfo plugin_info = {
    sizeof(pInfo), BACULA_API, BAC_FD_MAGIC, "AGPLv3", "podheitor",
    "2025", SHIM_VERSION, description,
};

static pFuncs plugin_funcs = {
    .size = sizeof(pFuncs),
    .version = BACULA_API,
    .newPlugin = newPlugin,
    .freePlugin = freePlugin,
    .getPluginValue = getPluginValue,
    .setPluginValue = setPluginValue,
    .handlePluginEvent = handlePluginEvent,
    .startBackupFile = startBackupFile,
    .endBackupFile = endBackupFile,
    .startRestoreFile = startRestoreFile,
    .endRestoreFile = endRestoreFile,
    .pluginIO = pluginIO,
    .createFile = createFile,
    .setFileAttributes = setFileAttributes,
    .checkFile = checkFile,
    .handleXACLdata = handleXACLdata,
    /* checkStream and the 13.x/15.x additions (restoreFileList, queryParameter,
     * metadataRestore, startVerifyFile, endVerifyFile) stay NULL: Bacula checks. */
};

/* Derives prefix/name/launcher from this library's own path (dladdr). */
static void identify(void)
{
    Dl_info info;
    const char *path = "podheitor-unknown-fd.so";
    if (dladdr((void *)identify, &info) && info.dli_fname && *info.dli_fname) {
        path = info.dli_fname;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 6 && strcmp(base + n - 6, "-fd.so") == 0) n -= 6;
    snprintf(prefix, sizeof(prefix), "%.*s", (int)n, base);
    snprintf(name, sizeof(name), "%s",
             starts_with(prefix, "podheitor-") ? prefix + strlen("podheitor-") : prefix);
    snprintf(launcher, sizeof(launcher), "%.*s/podheitor-backend",
             base == path ? 1 : (int)(base - path - 1), base == path ? "." : path);
    snprintf(description, sizeof(description), "podheitor %.40s plugin, Bacula plugin API %d",
             name, BACULA_API);
}

EXPORT bRC loadPlugin(bInfo *binfo, bFuncs *funcs, pInfo **pinfo, pFuncs **pfuncs);
EXPORT bRC unloadPlugin(void);

EXPORT bRC loadPlugin(bInfo *binfo, bFuncs *funcs, pInfo **pinfo, pFuncs **pfuncs)
{
    (void)binfo;
    bfuncs = funcs;
    identify();
    *pinfo = &plugin_info;
    *pfuncs = &plugin_funcs;
    return bRC_OK;
}

EXPORT bRC unloadPlugin(void)
{
    return bRC_OK;
}
