// renameat2(2) has no wrapper Swift's Glibc module shows: this one names the call Coffer uses.
#ifndef COFFER_FILE_SYSTEM_H
#define COFFER_FILE_SYSTEM_H

/// renameat2(AT_FDCWD, source, AT_FDCWD, target, RENAME_NOREPLACE): gives the file `source`
/// names the name `target` instead, atomically, failing with EEXIST when `target` exists.
/// 0 on success, -1 with errno on failure (EINVAL or ENOSYS where the file system or kernel
/// has no such rename).
int coffer_rename_noreplace(const char *source, const char *target);

#endif
