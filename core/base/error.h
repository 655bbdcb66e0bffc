/* Error record shared by every part of the core.
 * Every fallible call returns a pt2_status and, on failure, fills a pt2_error
 * so the CLI can print one line naming the file, the entry and what was expected. */
#ifndef PT2_BASE_ERROR_H
#define PT2_BASE_ERROR_H

#include <stdarg.h>

/* Values double as the CLI's exit codes where that makes sense:
 * 1 = a verification step failed, 2 = the input is bad or unsupported. */
typedef enum pt2_status {
    PT2_OK = 0,
    PT2_ERR_VERIFY = 1,      /* a comparison against PyTorch failed */
    PT2_ERR_INPUT = 2,       /* malformed, truncated, malicious or out-of-range input */
    PT2_ERR_UNSUPPORTED = 3, /* well-formed input using something we do not handle */
    PT2_ERR_IO = 4,          /* reading or writing a file failed */
    PT2_ERR_MEMORY = 5,      /* allocation failed or a size limit was hit */
    PT2_ERR_INTERNAL = 6     /* a bug in pt2returnn */
} pt2_status;

typedef struct pt2_error {
    pt2_status status;
    char file[256];        /* the file being read, e.g. "model.pt2" */
    char entry[256];       /* the entry inside it, e.g. "model/data.pkl" or a JSON path */
    char module_path[256]; /* where known: the PyTorch module path of the failing op */
    char op[128];          /* where known: the aten op, e.g. "aten.conv1d.default" */
    char source_line[512]; /* where known: the user source line from stack_trace */
    char message[1024];    /* what went wrong and what was expected */
} pt2_error;

void pt2_error_clear(pt2_error *err);

/* Record a failure and return `status`, so callers can write `return pt2_fail(...)`.
 * The first failure wins: a later pt2_fail does not overwrite an earlier message. */
pt2_status pt2_fail(pt2_error *err, pt2_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
pt2_status pt2_vfail(pt2_error *err, pt2_status status, const char *fmt, va_list ap);

/* Context setters; they only fill empty fields, so the innermost reader's context is kept. */
void pt2_error_set_file(pt2_error *err, const char *file);
void pt2_error_set_entry(pt2_error *err, const char *entry);

/* One-line rendering: "FILE: ENTRY: MESSAGE [op OP at MODULE] (SOURCE)". */
void pt2_error_format(const pt2_error *err, char *out, unsigned long out_size);

const char *pt2_status_name(pt2_status status);

#endif
