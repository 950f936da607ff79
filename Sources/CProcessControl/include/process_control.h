// prctl(2) is variadic, which Swift cannot call: these wrappers name the settings Coffer uses.
#ifndef COFFER_PROCESS_CONTROL_H
#define COFFER_PROCESS_CONTROL_H

/// prctl(PR_SET_DUMPABLE, dumpable): 0 keeps the process out of core dumps and stops other
/// processes of the same user from attaching to it or reading its memory. 0 on success, -1
/// with errno on failure.
int coffer_set_dumpable(int dumpable);

/// prctl(PR_GET_DUMPABLE): 1 or 0, or -1 with errno on failure.
int coffer_get_dumpable(void);

/// prctl(PR_SET_NAME, name): names the calling thread (15 bytes are kept), as `top -H`, `gdb`
/// and crash reports show it. 0 on success, -1 with errno on failure.
int coffer_set_thread_name(const char *name);

/// prctl(PR_GET_NAME): the calling thread's name into `name`, NUL-terminated. 0 on success.
int coffer_get_thread_name(char name[16]);

#endif
