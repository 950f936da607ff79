// prctl(2) is variadic, which Swift cannot call: these wrappers name the two settings Coffer
// uses.
#ifndef COFFER_PROCESS_CONTROL_H
#define COFFER_PROCESS_CONTROL_H

/// prctl(PR_SET_DUMPABLE, dumpable): 0 keeps the process out of core dumps and stops other
/// processes of the same user from attaching to it or reading its memory. 0 on success, -1
/// with errno on failure.
int coffer_set_dumpable(int dumpable);

/// prctl(PR_GET_DUMPABLE): 1 or 0, or -1 with errno on failure.
int coffer_get_dumpable(void);

#endif
