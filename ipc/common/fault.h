/*
 * fault.h — named crash points for fault-injection tests.
 *
 * In test builds (DSHM_FAULT_INJECTION defined) FAULT_POINT("name") kills
 * the calling process with SIGKILL when $DSHM_FAULT names that point; in
 * release builds it compiles to nothing.
 */
#ifndef DSHM_IPC_FAULT_H
#define DSHM_IPC_FAULT_H

#ifdef DSHM_FAULT_INJECTION
void fault_point(const char *name);
#define FAULT_POINT(name) fault_point(name)
#else
#define FAULT_POINT(name) ((void)0)
#endif

#endif /* DSHM_IPC_FAULT_H */
