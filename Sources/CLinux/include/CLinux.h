// Linux interfaces Glibc's Swift module leaves out: fanotify, file handles, FICLONE.
#ifndef FERRY_CLINUX_H
#define FERRY_CLINUX_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdint.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>

/// fanotify_init(2).
int ferry_fanotify_init(unsigned int flags, unsigned int event_f_flags);
/// fanotify_mark(2).
int ferry_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path);
/// open_by_handle_at(2) of the `struct file_handle` at `handle` (as an fanotify FID record carries it).
int ferry_open_by_handle(int mount_fd, const void *handle, int flags);
/// ioctl(dst, FICLONE, src): 0, or -1 with errno.
int ferry_ficlone(int dst, int src);

/// The fanotify constants Ferry uses (macros Swift does not import).
static const unsigned int FERRY_FAN_CLASS_NOTIF = FAN_CLASS_NOTIF;
static const unsigned int FERRY_FAN_REPORT_FID = FAN_REPORT_FID;
static const unsigned int FERRY_FAN_REPORT_DIR_FID = FAN_REPORT_DIR_FID;
static const unsigned int FERRY_FAN_REPORT_NAME = FAN_REPORT_NAME;
static const unsigned int FERRY_FAN_NONBLOCK = FAN_NONBLOCK;
static const unsigned int FERRY_FAN_CLOEXEC = FAN_CLOEXEC;
static const unsigned int FERRY_FAN_UNLIMITED_QUEUE = FAN_UNLIMITED_QUEUE;
static const unsigned int FERRY_FAN_MARK_ADD = FAN_MARK_ADD;
static const unsigned int FERRY_FAN_MARK_FILESYSTEM = FAN_MARK_FILESYSTEM;
static const uint64_t FERRY_FAN_CREATE = FAN_CREATE;
static const uint64_t FERRY_FAN_DELETE = FAN_DELETE;
static const uint64_t FERRY_FAN_MOVED_FROM = FAN_MOVED_FROM;
static const uint64_t FERRY_FAN_MOVED_TO = FAN_MOVED_TO;
static const uint64_t FERRY_FAN_CLOSE_WRITE = FAN_CLOSE_WRITE;
static const uint64_t FERRY_FAN_MODIFY = FAN_MODIFY;
static const uint64_t FERRY_FAN_ATTRIB = FAN_ATTRIB;
static const uint64_t FERRY_FAN_DELETE_SELF = FAN_DELETE_SELF;
static const uint64_t FERRY_FAN_MOVE_SELF = FAN_MOVE_SELF;
static const uint64_t FERRY_FAN_ONDIR = FAN_ONDIR;
static const uint64_t FERRY_FAN_Q_OVERFLOW = FAN_Q_OVERFLOW;
static const unsigned char FERRY_FAN_EVENT_INFO_TYPE_DFID_NAME = FAN_EVENT_INFO_TYPE_DFID_NAME;
static const unsigned char FERRY_FAN_EVENT_INFO_TYPE_FID = FAN_EVENT_INFO_TYPE_FID;
static const unsigned char FERRY_FAN_EVENT_INFO_TYPE_DFID = FAN_EVENT_INFO_TYPE_DFID;

#endif
