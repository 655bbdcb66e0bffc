/* The arithmetic behind the activations, eval forms and combine kinds that the math lowerings
 * (core/lower/lower_math.c, lower_compare.c) write, computed the way TensorFlow computes them
 * (in float32). layers_elementwise.c asks here for the names it does not know itself. */
#ifndef PT2_RETURNN_LAYERS_MATH_H
#define PT2_RETURNN_LAYERS_MATH_H

typedef double (*pt2_rt_binary_fn)(double a, double b);

/* The activation's canonical name when the interpreter knows it, else NULL. */
const char *pt2_rt_math_activation_name(const char *name);
/* f(v) for a known activation name (NaN for an unknown one). */
double pt2_rt_math_activation(const char *name, double v);
/* An eval form of layers_elementwise.c's table (NaN for an unknown one). */
double pt2_rt_math_eval(const char *form, double number, double v);
/* A combine kind (tf.math.<kind> applied pairwise), NULL when unknown. */
pt2_rt_binary_fn pt2_rt_math_combine_kind(const char *kind);

#endif
