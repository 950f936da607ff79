#include "process_control.h"

#include <sys/prctl.h>

int coffer_set_dumpable(int dumpable) {
    return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
}

int coffer_get_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

int coffer_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}

int coffer_get_thread_name(char name[16]) {
    return prctl(PR_GET_NAME, name, 0, 0, 0);
}
