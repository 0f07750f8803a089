/*
 * Clean-room declarations of the Bacula File Daemon plugin ABI.
 *
 * Written from the documented layouts in ../shared/reference/bacula.md (section 2:
 * field orders, offsets and sizes measured on x86_64), not from Bacula's headers.
 * Only what the shim uses is declared; the sizes that the File Daemon checks or
 * relies on are asserted at compile time at the bottom of this file.
 *
 * BACULA_API selects the plugin interface version:
 *   14 = Bacula 9.2 .. 9.6 (Debian 12), 22 = Bacula 11.3 / 13.0, 23 = Bacula 15.0.
 *
 * Copyright (C) podheitor authors. License: AGPL-3.0-or-later.
 */
#ifndef PODHEITOR_BACULA_ABI_H
#define PODHEITOR_BACULA_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifndef BACULA_API
#define BACULA_API 14
#endif
#if BACULA_API != 14 && BACULA_API != 22 && BACULA_API != 23
#error "BACULA_API must be 14 (Bacula 9.x), 22 (13.x) or 23 (15.x)"
#endif

#define BAC_FD_MAGIC "*FDPluginData*"

/* Return codes of every entry point and callback. */
typedef enum {
    bRC_OK = 0, bRC_Stop = 1, bRC_Error = 2, bRC_More = 3, bRC_Term = 4,
    bRC_Seen = 5, bRC_Core = 6, bRC_Skip = 7, bRC_Cancel = 8, bRC_Max = 9999
} bRC;

typedef struct {
    void *bContext;   /* owned by Bacula */
    void *pContext;   /* owned by the plugin instance */
} bpContext;

typedef struct { uint32_t eventType; } bEvent;
typedef struct { uint32_t size; uint32_t version; } bInfo;

typedef struct {
    uint32_t size;
    uint32_t version;
    const char *plugin_magic;
    const char *plugin_license;
    const char *plugin_author;
    const char *plugin_date;
    const char *plugin_version;
    const char *plugin_description;
} pInfo;

/* Events (bEventType), identical numbers in all supported versions. */
enum {
    EV_JOB_START = 1, EV_JOB_END = 2, EV_START_BACKUP_JOB = 3, EV_END_BACKUP_JOB = 4,
    EV_START_RESTORE_JOB = 5, EV_END_RESTORE_JOB = 6, EV_BACKUP_COMMAND = 9,
    EV_RESTORE_COMMAND = 10, EV_ESTIMATE_COMMAND = 11, EV_LEVEL = 12, EV_SINCE = 13,
    EV_CANCEL_COMMAND = 14, EV_RESTORE_OBJECT = 18, EV_END_FILESET = 19,
    EV_PLUGIN_COMMAND = 20, EV_OPTION_PLUGIN = 23, EV_HANDLE_BACKUP_FILE = 24
};

/* getBaculaValue variable numbers: they shift between releases (bacula.md 2.4). */
enum {
    VAR_JOB_ID = 1, VAR_LEVEL = 3, VAR_TYPE = 4, VAR_JOB_NAME = 6, VAR_SINCE_TIME = 8,
    VAR_ACCURATE = 9, VAR_WORKING_DIR = 13,
#if BACULA_API == 14
    VAR_WHERE = 14, VAR_REGEX_WHERE = 15, VAR_EXE_PATH = 16,
#else
    VAR_WHERE = 15, VAR_REGEX_WHERE = 16, VAR_EXE_PATH = 17,
#endif
    VAR_FILE_INDEX = 23, VAR_REPLACE = 24,
#if BACULA_API == 23
    VAR_SYSCONFIG_PATH = 28,
#endif
};

/* File types (FT_*). */
enum {
    FT_LNKSAVED = 1, FT_REGE = 2, FT_REG = 3, FT_LNK = 4, FT_DIREND = 5,
    FT_RESTORE_FIRST = 25, FT_PLUGIN_CONFIG = 27
};

/* createFile results (restore_pkt.create_status). */
enum { CF_SKIP = 1, CF_ERROR = 2, CF_EXTRACT = 3, CF_CREATED = 4, CF_CORE = 5 };

/* pluginIO functions and handleXACLdata functions. */
enum { IO_OPEN = 1, IO_READ = 2, IO_WRITE = 3, IO_CLOSE = 4, IO_SEEK = 5 };
enum { XACL_ACL_BACKUP = 1, XACL_ACL_RESTORE = 2, XACL_XATTR_BACKUP = 3,
       XACL_XATTR_RESTORE = 4 };

/* Job message types. 11.3+ inserted M_EVENTS at 3 and shifted the rest by one
 * (checked in the 9.6.7 / 11.3 / 13.0 / 15.0 sources); 9.x has no M_EVENTS. */
#if BACULA_API == 14
enum {
    M_FATAL = 3, M_ERROR = 4, M_WARNING = 5, M_INFO = 6, M_SAVED = 7, M_NOTSAVED = 8,
    M_SKIPPED = 9, M_MOUNT = 10, M_RESTORED = 13, M_EVENTS = M_INFO
};
#else
enum {
    M_EVENTS = 3, M_FATAL = 4, M_ERROR = 5, M_WARNING = 6, M_INFO = 7, M_SAVED = 8,
    M_NOTSAVED = 9, M_SKIPPED = 10, M_MOUNT = 11, M_RESTORED = 14
};
#endif

#if BACULA_API == 14
struct save_pkt {
    int32_t pkt_size;
    char *fname;
    char *link;
    struct stat statp;
    int32_t type;
    uint64_t flags;
    bool no_read;
    bool portable;
    bool accurate_found;
    char *cmd;
    uint32_t delta_seq;
    char *object_name;     /* restore object: name */
    char *object;          /* restore object: data */
    int32_t object_len;
    int32_t index;
    int32_t LinkFI;
    int32_t pkt_end;
};
#else
struct bac_restore_object {
    char *object_name;
    char *object;
    int32_t object_len;
    int32_t index;
    int32_t object_compression;
};
struct bac_plugin_object {
    char *path;
    char *plugin_name;
    char *object_category;
    char *object_type;
    char *object_name;
    char *object_source;
    char *object_uuid;
    uint64_t object_size;
    int32_t status;
    uint32_t count;
};
struct save_pkt {
    int32_t pkt_size;
    char *fname;
    char *snap_fname;
    int32_t plugin_mode;
    char *link;
    struct stat statp;
    int32_t type;
    uint64_t flags;
    bool no_read;
    bool portable;
    bool accurate_found;
    bool do_dedup;
    bool stat_update;      /* 15.0 only; padding in 13.x */
    char *cmd;
    struct bac_restore_object restore_obj;
    struct bac_plugin_object plugin_obj;
    const void *plug_meta;
    uint32_t delta_seq;
    int32_t LinkFI;
    int32_t pkt_end;
};
#endif

struct restore_pkt {
    int32_t pkt_size;
#if BACULA_API != 14
    int32_t plugin_mode;
#endif
    int32_t stream;
    int32_t data_stream;
    int32_t type;
    int32_t file_index;
    int32_t LinkFI;
    uid_t uid;
    struct stat statp;
    const char *attrEx;
    const char *ofname;
    const char *olname;
    const char *where;
    const char *RegexWhere;
    int replace;
    int create_status;
    uint32_t delta_seq;
    int32_t pkt_end;
};

struct io_pkt {
    int32_t pkt_size;
    int32_t func;
    int32_t count;
    int32_t flags;
    mode_t mode;
    char *buf;
    const char *fname;
    int32_t status;
    int32_t io_errno;
    int32_t lerror;
    int32_t whence;
    int64_t offset;
    bool win32;
    int32_t pkt_end;
};

struct xacl_pkt {
    int32_t pkt_size;
    int32_t func;
    int32_t count;
    char *content;
    int32_t pkt_end;
};

struct restore_object_pkt {
    int32_t pkt_size;
    char *object_name;
    char *object;
    char *plugin_name;
    int32_t object_type;
    int32_t object_len;
    int32_t object_full_len;
    int32_t object_index;
    int32_t object_compression;
    int32_t stream;
    uint32_t JobId;
    int32_t pkt_end;
};

/* Packets the shim never looks into. */
struct stream_pkt;
struct restore_filelist_pkt;
struct query_pkt;
struct meta_pkt;

/* Callbacks Bacula gives the plugin. Only the first ones are called by the shim. */
typedef struct {
    uint32_t size;
    uint32_t version;
    bRC (*registerBaculaEvents)(bpContext *ctx, ...);
    bRC (*getBaculaValue)(bpContext *ctx, int var, void *value);
    bRC (*setBaculaValue)(bpContext *ctx, int var, void *value);
    bRC (*JobMessage)(bpContext *ctx, const char *file, int line, int type, int64_t mtime,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
    bRC (*DebugMessage)(bpContext *ctx, const char *file, int line, int level,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
    void *(*baculaMalloc)(bpContext *ctx, const char *file, int line, size_t size);
    void (*baculaFree)(bpContext *ctx, const char *file, int line, void *mem);
    bRC (*AddExclude)(bpContext *ctx, const char *file);
    bRC (*AddInclude)(bpContext *ctx, const char *file);
    bRC (*AddOptions)(bpContext *ctx, const char *opts);
    bRC (*AddRegex)(bpContext *ctx, const char *item, int type);
    bRC (*AddWild)(bpContext *ctx, const char *item, int type);
    bRC (*NewOptions)(bpContext *ctx);
    bRC (*NewInclude)(bpContext *ctx);
    bRC (*NewPreInclude)(bpContext *ctx);
    bRC (*checkChanges)(bpContext *ctx, struct save_pkt *sp);
    bRC (*AcceptFile)(bpContext *ctx, struct save_pkt *sp);
#if BACULA_API != 14
    bRC (*getAccurateAttribs)(bpContext *ctx, void *attribs);
#endif
#if BACULA_API == 23
    bRC (*AddPlugin)(bpContext *ctx, const char *file);
    bRC (*AddFileEvent)(bpContext *ctx, void *event);
#endif
} bFuncs;

/* Entry points the plugin gives Bacula, in the order Bacula expects them. */
typedef struct {
    uint32_t size;
    uint32_t version;
    bRC (*newPlugin)(bpContext *ctx);
    bRC (*freePlugin)(bpContext *ctx);
    bRC (*getPluginValue)(bpContext *ctx, int var, void *value);
    bRC (*setPluginValue)(bpContext *ctx, int var, void *value);
    bRC (*handlePluginEvent)(bpContext *ctx, bEvent *event, void *value);
    bRC (*startBackupFile)(bpContext *ctx, struct save_pkt *sp);
    bRC (*endBackupFile)(bpContext *ctx);
    bRC (*startRestoreFile)(bpContext *ctx, const char *cmd);
    bRC (*endRestoreFile)(bpContext *ctx);
    bRC (*pluginIO)(bpContext *ctx, struct io_pkt *io);
    bRC (*createFile)(bpContext *ctx, struct restore_pkt *rp);
    bRC (*setFileAttributes)(bpContext *ctx, struct restore_pkt *rp);
    bRC (*checkFile)(bpContext *ctx, char *fname);
    bRC (*handleXACLdata)(bpContext *ctx, struct xacl_pkt *xacl);
#if BACULA_API == 14
    bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);
#else
    bRC (*restoreFileList)(bpContext *ctx, struct restore_filelist_pkt *rp);
    bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);
    bRC (*queryParameter)(bpContext *ctx, struct query_pkt *qp);
    bRC (*metadataRestore)(bpContext *ctx, struct meta_pkt *mp);
#endif
#if BACULA_API == 23
    bRC (*startVerifyFile)(bpContext *ctx, struct restore_pkt *rp);
    bRC (*endVerifyFile)(bpContext *ctx);
#endif
} pFuncs;

/* Layout checks against bacula.md 2.3 (x86_64, 64-bit off_t, 144-byte struct stat). */
#define ABI_OFF(type, field, off) \
    _Static_assert(offsetof(struct type, field) == (off), #type "." #field " offset")
_Static_assert(sizeof(pInfo) == 56, "pInfo size");
_Static_assert(sizeof(bpContext) == 16, "bpContext size");
#if defined(__x86_64__)
_Static_assert(sizeof(struct stat) == 144, "struct stat size (need _FILE_OFFSET_BITS=64)");
_Static_assert(sizeof(struct io_pkt) == 72, "io_pkt size");
ABI_OFF(io_pkt, buf, 24); ABI_OFF(io_pkt, status, 40); ABI_OFF(io_pkt, offset, 56);
ABI_OFF(io_pkt, win32, 64); ABI_OFF(io_pkt, pkt_end, 68);
_Static_assert(sizeof(struct xacl_pkt) == 32, "xacl_pkt size");
ABI_OFF(xacl_pkt, content, 16); ABI_OFF(xacl_pkt, pkt_end, 24);
_Static_assert(sizeof(struct restore_object_pkt) == 64, "restore_object_pkt size");
ABI_OFF(restore_object_pkt, plugin_name, 24); ABI_OFF(restore_object_pkt, object_len, 36);
ABI_OFF(restore_object_pkt, JobId, 56); ABI_OFF(restore_object_pkt, pkt_end, 60);
_Static_assert(sizeof(struct restore_pkt) == 232, "restore_pkt size");
ABI_OFF(restore_pkt, statp, 32); ABI_OFF(restore_pkt, attrEx, 176);
ABI_OFF(restore_pkt, ofname, 184); ABI_OFF(restore_pkt, olname, 192);
ABI_OFF(restore_pkt, where, 200); ABI_OFF(restore_pkt, RegexWhere, 208);
ABI_OFF(restore_pkt, replace, 216); ABI_OFF(restore_pkt, create_status, 220);
ABI_OFF(restore_pkt, delta_seq, 224); ABI_OFF(restore_pkt, pkt_end, 228);
#if BACULA_API == 14
ABI_OFF(restore_pkt, stream, 4); ABI_OFF(restore_pkt, uid, 24);
_Static_assert(sizeof(struct save_pkt) == 240, "save_pkt v14 size");
ABI_OFF(save_pkt, fname, 8); ABI_OFF(save_pkt, link, 16); ABI_OFF(save_pkt, statp, 24);
ABI_OFF(save_pkt, type, 168); ABI_OFF(save_pkt, flags, 176); ABI_OFF(save_pkt, no_read, 184);
ABI_OFF(save_pkt, portable, 185); ABI_OFF(save_pkt, accurate_found, 186);
ABI_OFF(save_pkt, cmd, 192); ABI_OFF(save_pkt, delta_seq, 200);
ABI_OFF(save_pkt, object_name, 208); ABI_OFF(save_pkt, object, 216);
ABI_OFF(save_pkt, object_len, 224); ABI_OFF(save_pkt, index, 228);
ABI_OFF(save_pkt, LinkFI, 232); ABI_OFF(save_pkt, pkt_end, 236);
_Static_assert(sizeof(bFuncs) == 144, "bFuncs v14 size");
_Static_assert(sizeof(pFuncs) == 128, "pFuncs v14 size");
#else
ABI_OFF(restore_pkt, plugin_mode, 4); ABI_OFF(restore_pkt, stream, 8);
ABI_OFF(restore_pkt, uid, 28);
_Static_assert(sizeof(struct save_pkt) == 344, "save_pkt v22/v23 size");
ABI_OFF(save_pkt, fname, 8); ABI_OFF(save_pkt, snap_fname, 16);
ABI_OFF(save_pkt, plugin_mode, 24); ABI_OFF(save_pkt, link, 32); ABI_OFF(save_pkt, statp, 40);
ABI_OFF(save_pkt, type, 184); ABI_OFF(save_pkt, flags, 192); ABI_OFF(save_pkt, no_read, 200);
ABI_OFF(save_pkt, portable, 201); ABI_OFF(save_pkt, accurate_found, 202);
ABI_OFF(save_pkt, do_dedup, 203); ABI_OFF(save_pkt, stat_update, 204);
ABI_OFF(save_pkt, cmd, 208); ABI_OFF(save_pkt, restore_obj, 216);
ABI_OFF(save_pkt, plugin_obj, 248); ABI_OFF(save_pkt, plug_meta, 320);
ABI_OFF(save_pkt, delta_seq, 328); ABI_OFF(save_pkt, LinkFI, 332);
ABI_OFF(save_pkt, pkt_end, 336);
_Static_assert(sizeof(struct bac_restore_object) == 32, "restore_obj size");
_Static_assert(sizeof(struct bac_plugin_object) == 72, "plugin_obj size");
#if BACULA_API == 22
_Static_assert(sizeof(bFuncs) == 152, "bFuncs v22 size");
_Static_assert(sizeof(pFuncs) == 152, "pFuncs v22 size");
#else
_Static_assert(sizeof(bFuncs) == 168, "bFuncs v23 size");
_Static_assert(sizeof(pFuncs) == 168, "pFuncs v23 size");
#endif
#endif
#endif /* __x86_64__ */

#endif /* PODHEITOR_BACULA_ABI_H */
