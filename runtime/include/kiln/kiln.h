/* kiln: integer inference runtime, C API. No function throws; errors are status codes with a
 * message from kiln_last_error(). */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
const char* kiln_version(void);

/* The kernel path this process uses: "ref", "avx2", "avx512vnni", "neondot" or "i8mm". Honours
 * KILN_ISA; returns NULL when KILN_ISA names a path this build or CPU cannot run, with the reason
 * in kiln_last_error(). */
const char* kiln_isa(void);

/* The message of the last failed call on this thread, or "" if none. */
const char* kiln_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_H */
