#include "CLinux.h"
#include <linux/fs.h>
#include <sys/ioctl.h>

int ferry_fanotify_init(unsigned int flags, unsigned int event_f_flags) {
    return fanotify_init(flags, event_f_flags);
}

int ferry_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path) {
    return fanotify_mark(fd, flags, mask, dirfd, path);
}

int ferry_open_by_handle(int mount_fd, const void *handle, int flags) {
    return open_by_handle_at(mount_fd, (struct file_handle *)handle, flags);
}

int ferry_ficlone(int dst, int src) {
    return ioctl(dst, FICLONE, src);
}
