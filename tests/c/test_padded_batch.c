/* The padded-batch step passes on correct conversions and catches a lowering that is right only
 * on full-length batches: the emitted JSON config is broken the way a careless lowering would
 * write it (a reflect pad that ignores the sequence lengths; convs that read the frames after a
 * sequence's end), reloaded, and run. The plain reload (one full-length batch) still passes on
 * the broken configs: only the padded batch sees the mistake. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "cli/cli.h"
#include "core/pipeline/convert.h"
#include "core/reload/read_config.h"
#include "core/verify/padded_batch.h"
#include "core/verify/verify_layers.h"

/* Every `from` ... `to` span (to included) replaced by `with`. */
static char *replace_spans(pt2_arena *arena, const char *text, const char *from, const char *to, const char *with,
                           int *count) {
    pt2_strbuf out;
    pt2_strbuf_init(&out);
    *count = 0;
    const char *p = text, *hit;
    while ((hit = strstr(p, from)) != NULL) {
        const char *end = strstr(hit + strlen(from), to);
        if (!end) break;
        pt2_strbuf_printf(&out, "%.*s%s", (int)(hit - p), p, with);
        p = end + strlen(to);
        (*count)++;
    }
    pt2_strbuf_puts(&out, p);
    pt2_error err;
    pt2_error_clear(&err);
    char *copy = pt2_arena_strdup(arena, out.data, &err);
    pt2_strbuf_free(&out);
    return copy;
}

typedef struct outcome {
    int reload_passed, padded_passed;
    double padded_max_abs;
} outcome;

/* The config (maybe broken) reloaded with the conversion's checkpoint: the full-length reload
 * against the reference run, and the padded-batch step on the batch the conversion prepared
 * (its lengths and references do not depend on the config). */
static int check_config(pt2_arena *arena, const pt2_convert_result *result, const char *config, outcome *out) {
    pt2_error err;
    pt2_error_clear(&err);
    pt2_reloaded_net reloaded;
    pt2_tensor output;
    pt2_comparison cmp;
    if (!config || !result->padded_batch) { /* the conversion failed (reported above) */
        failures++;
        return 0;
    }
    pt2_padded_batch batch = *(const pt2_padded_batch *)result->padded_batch;
    batch.problem = NULL;
    if (pt2_reload_net(arena, config, strlen(config), (const uint8_t *)result->checkpoint_index.data,
                       result->checkpoint_index.length, (const uint8_t *)result->checkpoint_data.data,
                       result->checkpoint_data.length, PT2_TF_DATA_CRC_AS_WRITTEN, &reloaded, &err) ||
        pt2_reload_run(arena, &reloaded, &result->input, &output, &err) ||
        pt2_verify_padded_batch(arena, &reloaded, 1e-4, 1e-4, &batch, &err)) {
        printf("FAIL: %s\n", err.message);
        return 0;
    }
    pt2_compare_tensors(&output, &result->reference_output, 1e-4, 1e-4, &cmp);
    out->reload_passed = cmp.passed;
    out->padded_passed = batch.applicable && batch.passed;
    out->padded_max_abs = batch.max_abs;
    CHECK(batch.applicable && batch.num_sequences == 3, "three lengths in the padded batch");
    return 1;
}

static void convert(pt2_arena *arena, const char *path, pt2_model_source *source, pt2_convert_result *result) {
    pt2_error err;
    pt2_error_clear(&err);
    memset(source, 0, sizeof *source);
    source->model_name = path;
    pt2_convert_options options = {0};
    options.atol = options.rtol = 1e-4;
    options.run.num_threads = 1;
    pt2_convert_result_init(result);
    if (pt2_cli_read_file(arena, path, &source->model_bytes, &source->model_length, &err) ||
        pt2_convert(arena, source, &options, result, &err)) {
        printf("FAIL: %s: %s\n", path, err.message);
        failures++;
        return;
    }
    CHECK(result->failed_step == NULL, "the conversion passes every step");
    int found = 0;
    for (size_t i = 0; i < result->num_steps; i++)
        if (!strcmp(result->steps[i].name, "padded-batch")) {
            found = 1;
            CHECK(result->steps[i].compared && result->steps[i].passed && result->steps[i].max_abs < 1e-5,
                  "the padded-batch step compared and passed");
        }
    CHECK(found, "the report has the padded-batch step");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    /* The MelGAN-style example sits in the repository, beside this file's folder. */
    char melgan[4096], conv_stack[4096];
    const char *here = __FILE__, *tests = strstr(here, "tests/c/");
    snprintf(melgan, sizeof melgan, "%.*sexamples/tiny_melgan.pt2", tests ? (int)(tests - here) : 0, here);
    snprintf(conv_stack, sizeof conv_stack, "%s/conv_stack.pt2", argv[1]);
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_model_source source;
    pt2_convert_result result;
    outcome right, broken;
    int count;

    /* Reflect pads: the eval layer that redoes each sequence's end, made an identity. */
    convert(&arena, melgan, &source, &result);
    if (check_config(&arena, &result, result.config_json.data, &right)) {
        CHECK(right.reload_passed && right.padded_passed, "the emitted config passes on the padded batch");
        const char *wrong = replace_spans(&arena, result.config_json.data, "\"eval\": \"(lambda d, r:", "\"}",
                                          "\"eval\": \"source(0) + 0.0\"}", &count);
        CHECK(count >= 2, "the example has reflect pads on the time axis");
        if (check_config(&arena, &result, wrong, &broken)) {
            CHECK(broken.reload_passed, "a full-length batch does not see a pad that ignores the lengths");
            CHECK(!broken.padded_passed && broken.padded_max_abs > 1e-2, "the padded batch catches it");
            printf("melgan: padded batch max abs %.3g (right) vs %.3g (pads ignoring the lengths)\n", right.padded_max_abs,
                   broken.padded_max_abs);
        }
    }
    pt2_convert_result_free(&result);

    /* Convs with padding: the frames after a sequence's end read as they are, not as zeros. */
    convert(&arena, conv_stack, &source, &result);
    if (check_config(&arena, &result, result.config_json.data, &right)) {
        CHECK(right.padded_passed, "conv_stack passes on the padded batch");
        const char *wrong = replace_spans(&arena, result.config_json.data, "\"use_time_mask\": true", "",
                                          "\"use_time_mask\": false", &count);
        CHECK(count == 3, "every conv of conv_stack masks the time");
        if (check_config(&arena, &result, wrong, &broken)) {
            CHECK(broken.reload_passed, "a full-length batch does not need the mask");
            CHECK(!broken.padded_passed, "the padded batch catches convs reading after the end");
            printf("conv_stack: padded batch max abs %.3g (right) vs %.3g (no time mask)\n", right.padded_max_abs,
                   broken.padded_max_abs);
        }
    }
    pt2_convert_result_free(&result);
    pt2_arena_free(&arena);
    return failures != 0;
}
