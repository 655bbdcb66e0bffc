/* pt2returnn._core: the Python binding to the C core (core/pipeline/convert.h), the same code the
 * CLI, the npm package and the page run. It converts in process: bytes in, bytes and texts out.
 * Everything Python-facing (exporting, PyTorch's reference outputs, files, exceptions) lives in
 * convert.py; this file only moves data across and keeps the core's result alive so that steps
 * run outside the core (real RETURNN) can be added to its report. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "core/base/arena.h"
#include "core/base/error.h"
#include "core/load/load_model.h"
#include "core/pipeline/convert.h"

#define MAX_TENSORS 16
#define ARENA_LIMIT ((size_t)16 << 30)

static PyObject *core_error; /* _core.CoreError(status (pt2_status), one-line message, details) */

static PyObject *raise_core_error(const pt2_error *err) {
    char line[4096];
    pt2_error_format(err, line, sizeof line);
    PyObject *details = Py_BuildValue("{s:s,s:s,s:s,s:s,s:s,s:s}", "file", err->file, "entry", err->entry, "module_path",
                                      err->module_path, "op", err->op, "source_line", err->source_line, "message",
                                      err->message);
    if (!details) return NULL;
    PyObject *args = Py_BuildValue("(isN)", (int)err->status, line, details);
    if (args) PyErr_SetObject(core_error, args);
    Py_XDECREF(args);
    return NULL;
}

/* One tensor from Python: (dtype name, shape tuple, contiguous bytes), copied into the arena. */
static int tensor_from_python(pt2_arena *arena, PyObject *item, const char *what, pt2_tensor *out) {
    const char *dtype_name;
    PyObject *shape;
    Py_buffer data;
    if (!PyArg_ParseTuple(item, "sO!y*", &dtype_name, &PyTuple_Type, &shape, &data)) return -1;
    memset(out, 0, sizeof *out);
    out->dtype = pt2_dtype_from_name(dtype_name);
    Py_ssize_t rank = PyTuple_GET_SIZE(shape);
    int ok = out->dtype != PT2_DTYPE_INVALID && rank <= PT2_MAX_RANK;
    int64_t numel = 1;
    for (Py_ssize_t i = 0; ok && i < rank; i++) {
        long long n = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, i));
        if (n < 0 || PyErr_Occurred()) ok = 0;
        else out->shape[i] = n, numel *= n;
    }
    out->rank = (int)rank;
    if (ok && (size_t)numel * pt2_dtype_size(out->dtype) != (size_t)data.len) ok = 0;
    if (!ok) {
        PyBuffer_Release(&data);
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: expected a supported dtype, at most %d axes and bytes matching the shape", what,
                     PT2_MAX_RANK);
        return -1;
    }
    pt2_contiguous_strides(out->shape, out->rank, out->strides);
    pt2_error err;
    pt2_error_clear(&err);
    out->storage = pt2_arena_alloc(arena, data.len ? (size_t)data.len : 1, &err);
    out->storage_bytes = (size_t)data.len;
    if (out->storage) memcpy(out->storage, data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    if (!out->storage) {
        raise_core_error(&err);
        return -1;
    }
    return 0;
}

static int tensors_from_python(pt2_arena *arena, PyObject *list, const char *what, pt2_tensor *out, size_t *count) {
    *count = 0;
    if (list == Py_None) return 0;
    if (!PyList_Check(list) || PyList_GET_SIZE(list) > MAX_TENSORS) {
        PyErr_Format(PyExc_TypeError, "%s: expected a list of at most %d tensors", what, MAX_TENSORS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++)
        if (tensor_from_python(arena, PyList_GET_ITEM(list, i), what, &out[i])) return -1;
    *count = (size_t)PyList_GET_SIZE(list);
    return 0;
}

/* ---- Conversion: the core's result, kept alive with its arena ---- */

typedef struct {
    PyObject_HEAD
    pt2_arena arena;
    pt2_convert_result result;
    int live;
    /* The model's and checkpoint's bytes, held as long as the result: the loaders' tensors and
     * strings may be views onto them, and add_step writes the report from the result again. */
    Py_buffer model, checkpoint;
} Conversion;

static void conversion_dealloc(Conversion *self) {
    if (self->live) {
        pt2_convert_result_free(&self->result);
        pt2_arena_free(&self->arena);
        PyBuffer_Release(&self->model);
        if (self->checkpoint.buf) PyBuffer_Release(&self->checkpoint);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *bytes_or_none(const pt2_strbuf *sb, int text) {
    if (!sb->data) Py_RETURN_NONE;
    return text ? PyUnicode_DecodeUTF8(sb->data, (Py_ssize_t)sb->length, "strict")
                : PyBytes_FromStringAndSize(sb->data, (Py_ssize_t)sb->length);
}

/* Everything the core produced, as Python values (the texts are rewritten by add_step). */
static PyObject *conversion_outputs(Conversion *self, PyObject *Py_UNUSED(ignored)) {
    const pt2_convert_result *r = &self->result;
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:z,s:n,s:n}", "config_py", bytes_or_none(&r->config_py, 1),
                         "config_json", bytes_or_none(&r->config_json, 1), "checkpoint_index",
                         bytes_or_none(&r->checkpoint_index, 0), "checkpoint_data", bytes_or_none(&r->checkpoint_data, 0),
                         "report_json", bytes_or_none(&r->report_json, 1), "report_text",
                         bytes_or_none(&r->report_text, 1), "layer_py", bytes_or_none(&r->layer_py, 1), "layer_json",
                         bytes_or_none(&r->layer_json, 1), "failed_step", r->failed_step, "num_layers",
                         (Py_ssize_t)r->num_layers, "num_variables", (Py_ssize_t)r->num_variables);
}

/* add_step(name, what, seconds, compared, passed, max_abs, max_rel, worst_ratio): a step run
 * outside the core (the second length, real RETURNN) joins the report, which is written anew. */
static PyObject *conversion_add_step(Conversion *self, PyObject *args) {
    const char *name, *what;
    pt2_step_record step = {0};
    if (!PyArg_ParseTuple(args, "ssdppddd", &name, &what, &step.seconds, &step.compared, &step.passed, &step.max_abs,
                          &step.max_rel, &step.worst_ratio))
        return NULL;
    pt2_error err;
    pt2_error_clear(&err);
    step.name = pt2_arena_strdup(&self->arena, name, &err);
    step.what = step.name ? pt2_arena_strdup(&self->arena, what, &err) : NULL;
    if (!step.what || pt2_convert_add_step(&self->result, &step, &err)) return raise_core_error(&err);
    Py_RETURN_NONE;
}

static PyMethodDef conversion_methods[] = {
    {"outputs", (PyCFunction)conversion_outputs, METH_NOARGS, "The configs, checkpoint bytes and reports as a dict."},
    {"add_step", (PyCFunction)conversion_add_step, METH_VARARGS,
     "add_step(name, what, seconds, compared, passed, max_abs, max_rel, worst_ratio): add a step to the report."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject conversion_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pt2returnn._core.Conversion",
    .tp_basicsize = sizeof(Conversion),
    .tp_dealloc = (destructor)conversion_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The C core's result of one conversion.",
    .tp_methods = conversion_methods,
};

/* ---- progress: the core calls back as each step starts and ends ---- */

typedef struct {
    PyObject *callback;
    int failed; /* the callback raised: stop calling it, re-raise at the end */
} progress_state;

static void progress_to_python(void *user, const char *step, const char *message) {
    progress_state *p = user;
    PyGILState_STATE gil = PyGILState_Ensure(); /* the conversion runs with the GIL released */
    if (!p->failed) {
        PyObject *r = PyObject_CallFunction(p->callback, "ss", step, message);
        if (!r) p->failed = 1;
        Py_XDECREF(r);
    }
    PyGILState_Release(gil);
}

/* convert(model, model_name, inputs, references, checkpoint, checkpoint_name, checkpoint_key,
 *         atol, rtol, as_layer, progress, threads, strict) -> Conversion */
static PyObject *core_convert(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"model", "model_name", "inputs", "references", "checkpoint", "checkpoint_name",
                               "checkpoint_key", "atol", "rtol", "as_layer", "progress", "threads", "strict", NULL};
    Py_buffer model, checkpoint = {0};
    const char *model_name, *checkpoint_name = NULL, *checkpoint_key = NULL, *as_layer = NULL;
    PyObject *inputs, *references = Py_None, *progress = Py_None;
    double atol = 1e-4, rtol = 1e-4;
    int threads = 1, strict = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*sO|Oz*zzddzOip", keywords, &model, &model_name, &inputs,
                                     &references, &checkpoint, &checkpoint_name, &checkpoint_key, &atol, &rtol,
                                     &as_layer, &progress, &threads, &strict))
        return NULL;
    Conversion *self = PyObject_New(Conversion, &conversion_type);
    if (!self) {
        PyBuffer_Release(&model);
        if (checkpoint.buf) PyBuffer_Release(&checkpoint);
        return NULL;
    }
    pt2_arena_init(&self->arena, ARENA_LIMIT);
    pt2_convert_result_init(&self->result);
    self->model = model; /* released with the object, also on the failures below */
    self->checkpoint = checkpoint;
    self->live = 1;

    pt2_tensor input_tensors[MAX_TENSORS], reference_tensors[MAX_TENSORS];
    pt2_convert_options options = {0};
    if (tensors_from_python(&self->arena, inputs, "inputs", input_tensors, &options.num_inputs) ||
        tensors_from_python(&self->arena, references, "references", reference_tensors, &options.num_reference_outputs)) {
        Py_CLEAR(self);
        return NULL;
    }
    if (options.num_inputs) options.inputs = input_tensors;
    if (options.num_reference_outputs) options.reference_outputs = reference_tensors;
    options.atol = atol;
    options.rtol = rtol;
    options.as_layer = as_layer;
    options.run.num_threads = threads;
    options.allow_checkpoint_mismatch = !strict; /* the core's strict loading, as in every front end */
    progress_state progress_user = {progress, 0};
    if (progress != Py_None) {
        options.progress = progress_to_python;
        options.progress_user = &progress_user;
    }
    pt2_model_source source = {0};
    source.model_bytes = model.buf;
    source.model_length = (size_t)model.len;
    source.model_name = model_name;
    if (checkpoint.buf) {
        source.checkpoint_bytes = checkpoint.buf;
        source.checkpoint_length = (size_t)checkpoint.len;
        source.checkpoint_name = checkpoint_name ? checkpoint_name : "checkpoint";
        source.checkpoint_key = checkpoint_key;
    }
    pt2_error err;
    pt2_error_clear(&err);
    /* The names the report keeps must outlive the caller's strings. */
    source.model_name = pt2_arena_strdup(&self->arena, source.model_name, &err);
    if (source.checkpoint_name) source.checkpoint_name = pt2_arena_strdup(&self->arena, source.checkpoint_name, &err);
    pt2_status st = err.status;
    if (!st) {
        /* Other Python threads run meanwhile; the progress callback takes the GIL back. The
         * buffers stay valid: the object holds them. */
        Py_BEGIN_ALLOW_THREADS
        st = pt2_convert(&self->arena, &source, &options, &self->result, &err);
        Py_END_ALLOW_THREADS
    }
    if (progress_user.failed) {
        Py_CLEAR(self);
    } else if (st) {
        raise_core_error(&err);
        Py_CLEAR(self);
    }
    return (PyObject *)self;
}

static PyObject *string_list(const char **items, size_t count) {
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list && i < count; i++) {
        PyObject *s = PyUnicode_FromString(items[i]);
        if (!s) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

/* checkpoint_keys(model, checkpoint, checkpoint_name, checkpoint_key) -> dict: how the core
 * matches a checkpoint to the program's parameters and buffers (the load step alone, mismatches
 * allowed), so that a strict refusal can carry every missing and unexpected key as lists. */
static PyObject *core_checkpoint_keys(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer model, checkpoint;
    const char *checkpoint_name, *checkpoint_key;
    if (!PyArg_ParseTuple(args, "y*y*sz", &model, &checkpoint, &checkpoint_name, &checkpoint_key)) return NULL;
    pt2_arena arena;
    pt2_arena_init(&arena, ARENA_LIMIT);
    pt2_model_source source = {model.buf, (size_t)model.len, "model", checkpoint.buf, (size_t)checkpoint.len,
                               checkpoint_name, checkpoint_key, 1};
    pt2_graph graph;
    pt2_load_report report;
    pt2_error err;
    pt2_error_clear(&err);
    PyObject *out = NULL;
    if (pt2_load_model(&arena, &source, &graph, &report, &err)) {
        raise_core_error(&err);
    } else {
        const pt2_apply_report *a = &report.apply;
        out = Py_BuildValue("{s:N,s:N,s:n,s:n,s:s}", "missing", string_list(a->missing, a->num_missing), "unexpected",
                            string_list(a->unexpected, a->num_unexpected), "loaded", (Py_ssize_t)a->num_loaded,
                            "weight_norm", (Py_ssize_t)a->num_weight_norm, "prefix", a->prefix ? a->prefix : "");
    }
    pt2_arena_free(&arena);
    PyBuffer_Release(&model);
    PyBuffer_Release(&checkpoint);
    return out;
}

static PyMethodDef core_methods[] = {
    {"convert", (PyCFunction)(void (*)(void))core_convert, METH_VARARGS | METH_KEYWORDS,
     "convert(model, model_name, inputs, references=None, checkpoint=None, checkpoint_name=None,\n"
     "        checkpoint_key=None, atol=1e-4, rtol=1e-4, as_layer=None, progress=None, threads=1)\n"
     "Runs the core's whole conversion; tensors are (dtype name, shape, bytes)."},
    {"checkpoint_keys", core_checkpoint_keys, METH_VARARGS,
     "checkpoint_keys(model, checkpoint, checkpoint_name, checkpoint_key) -> {missing, unexpected, ...}"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {PyModuleDef_HEAD_INIT, "pt2returnn._core",
                                         "Binding to the pt2returnn C core (the converter the CLI runs).", -1,
                                         core_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&conversion_type) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m) return NULL;
    core_error = PyErr_NewException("pt2returnn._core.CoreError", NULL, NULL);
    if (!core_error || PyModule_AddObject(m, "CoreError", core_error) < 0) {
        Py_XDECREF(core_error);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(core_error);
    return m;
}
