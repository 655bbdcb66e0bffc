"""Attention masks and position biases of transformers' encoders, as their users run them: each
converts with every per-layer check passing and matches PyTorch in real RETURNN with both configs
at two lengths and on a padded batch (each sequence against PyTorch on it alone); all RETURNN runs
in one process. What each one needs:

- MPNetModel: a mask compared from the positions over the time meets the scores over the time and
  the keys' copy of it (one dim tag already: nothing to declare, where a size_base between 2 and 1
  dynamic axes was refused); its relative position buckets take tf.abs of int64 positions and
  log(0) = -inf on the diagonal, which the per-layer check must count as agreeing.
- DebertaModel: a mask [B, T] expanded over the time and then unsqueezed (a view beside a
  broadcast axis of size T, which stays one).
- LayoutLMModel: its default bounding boxes, a constant of the top module, are read inside the
  embeddings module, whose first layers come before it: the configs write each entry after what
  it reads, so the reload (which reads in file order) finds it.
- SqueezeBertModel and MegatronBertModel: their bidirectional mask reads the default mask (ones)
  at mask[batch_idx, kv_idx] over aranges, indexing with two tensors: one number everywhere, read
  anywhere, is that number.
- T5EncoderModel: its position bias per head (an embedding of relative position buckets, the heads
  its features) meets the scores split into heads: static dims of one size, matched by size.
- Wav2Vec2BertModel: its relative distances, int64, clamped to integer bounds stay integers.
- Speech2TextModel's encoder: the mask over its conv front end's time meets the scores over that
  time and its copy (it was refused for the size_base counts; the dims are one tag).
- LlamaModel with grouped-query attention (2 key/value heads for 4 query heads): repeat_kv expands
  the key/value heads and merges the expanded axis into the heads (made real by a tile, then
  merged); its causal mask compares positions (le) and its rotary tables come from a region with
  autocast off.
- MistralModel with a sliding window of 8 frames, shorter than the examples: its mask ands the
  causal comparison with one of the distance (gt) over the window.
- GPTNeoModel, a global and a local (window 8) layer: its causal mask is a bool buffer [1, 1, 64,
  64] sliced to [.., T, T] (a float32 variable compared != 0, gathered at the positions along the
  time, then along the keys' copy of it).
- LlamaModel with multi-query attention (1 key/value head for 4 query heads): the keys' heads axis
  is a broadcast axis of size 1 (a view's), which rotate_half's cat keeps broadcast (each half made
  real would get a size-1 dim of its own, and the join could not match them), repeat_kv's merge
  keeps, and attention's products take as the queries' heads alone (a var of the dot).
- FalconModel with multi_query: x.T (numpy_T) on its weights, and scaled_dot_product_attention
  with keys and values of one head [B, 1, T, D] against queries [B, 4, T, D], which PyTorch
  broadcasts.
- StableLmModel with partial rotary (a quarter of each head's features) and 1 key/value head: the
  slice of the heads' features, a static dim of size 2 that is not its layer's feature, meets the
  rotary table's feature of size 2 (made the slice's feature, as RETURNN matches a feature only
  with a feature)."""
import torch
import torch.nn as nn

from conftest import ReturnnCatalogue


class LastHidden(nn.Module):
    """A transformers model (or its encoder) as its users call it on one input: its last hidden state."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).last_hidden_state


def text_encoder(family, **options):
    import transformers
    config = getattr(transformers, f"{family}Config")(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                                      num_attention_heads=4, intermediate_size=64, **options)
    return LastHidden(getattr(transformers, f"{family}Model")(config))


def t5_encoder():
    from transformers import T5Config, T5EncoderModel
    return LastHidden(T5EncoderModel(T5Config(vocab_size=50, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)))


def wav2vec2_bert():
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel
    return LastHidden(Wav2Vec2BertModel(Wav2Vec2BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                           intermediate_size=64, feature_projection_input_dim=20,
                                                           output_hidden_size=32)))


def speech2text_encoder():
    from transformers import Speech2TextConfig, Speech2TextModel
    config = Speech2TextConfig(d_model=32, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=64,
                               input_feat_per_channel=20, conv_channels=32, decoder_layers=1, vocab_size=50)
    return LastHidden(Speech2TextModel(config).encoder)


def gpt_neo_model():
    from transformers import GPTNeoConfig, GPTNeoModel
    config = GPTNeoConfig(vocab_size=50, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                          attention_types=[[["global", "local"], 1]], window_size=8, max_position_embeddings=64,
                          bos_token_id=0, eos_token_id=0)
    return LastHidden(GPTNeoModel(config))


def falcon_multi_query():
    from transformers import FalconConfig, FalconModel
    return LastHidden(FalconModel(FalconConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                               multi_query=True, new_decoder_architecture=False)))


def token_ids(size):
    return torch.randint(3, 50, size)


# name: (model, ops the export must contain, the input's sampler, the example's size)
MODELS = {
    "transformers_mpnet_model": (lambda: text_encoder("MPNet"), ["aten.abs.default", "aten.log.default"], token_ids, (2, 20)),
    "transformers_deberta_model": (lambda: text_encoder("Deberta"), ["aten.unsqueeze.default", "aten.mul.Tensor"],
                                   token_ids, (2, 20)),
    # one sequence in the example: with two, the sum of its embeddings gets a second batch axis in
    # the lowering (not handled yet; Speech2Text's positions too)
    "transformers_layoutlm_model": (lambda: text_encoder("LayoutLM"), ["aten.zeros.default", "aten.select.int"],
                                    token_ids, (1, 20)),
    "transformers_squeezebert_model": (lambda: text_encoder("SqueezeBert", embedding_size=32), ["aten.index.Tensor"],
                                       token_ids, (2, 20)),
    "transformers_megatronbert_model": (lambda: text_encoder("MegatronBert"), ["aten.index.Tensor"], token_ids, (2, 20)),
    "transformers_t5_encoder": (t5_encoder, ["aten.embedding.default", "aten.scaled_dot_product_attention.default"],
                                token_ids, (2, 20)),
    "transformers_wav2vec2_bert_model": (wav2vec2_bert, ["aten.clamp.default"], torch.randn, (2, 30, 20)),
    # one sequence in the example, as LayoutLM's (its positions' embedding gets a second batch axis)
    "transformers_speech2text_encoder": (speech2text_encoder, ["aten.conv1d.default", "aten.glu.default"], torch.randn,
                                         (1, 40, 20)),
    "transformers_llama_model": (lambda: text_encoder("Llama", num_key_value_heads=2),
                                 ["aten.expand.default", "aten.le.Tensor", "aten.rsqrt.default"], token_ids, (2, 20)),
    "transformers_llama_multi_query_model": (lambda: text_encoder("Llama", num_key_value_heads=1),
                                             ["aten.expand.default", "aten.cat.default"], token_ids, (2, 20)),
    "transformers_falcon_multi_query_model": (falcon_multi_query, ["aten.numpy_T.default",
                                                                   "aten.scaled_dot_product_attention.default"],
                                              token_ids, (2, 20)),
    "transformers_stablelm_model": (lambda: text_encoder("StableLm", num_key_value_heads=1),
                                    ["aten.slice.Tensor", "aten.cat.default"], token_ids, (2, 20)),
    "transformers_gpt_neo_model": (gpt_neo_model, ["aten.slice.Tensor", "aten.where.self"], token_ids, (2, 20)),
    "transformers_mistral_model": (lambda: text_encoder("Mistral", num_key_value_heads=2, sliding_window=8),
                                   ["aten.__and__.Tensor", "aten.gt.Tensor"], token_ids, (2, 20)),
}


def test_attention_masks_convert_and_match_pytorch_in_real_returnn(pt2returnn, tmp_path):
    catalogue = ReturnnCatalogue(pt2returnn, tmp_path, "attention_masks")
    for name, (make, ops, sample, size) in MODELS.items():
        torch.manual_seed(4)
        model = make().eval()
        example = sample(size)
        program = torch.export.export(model, (example,), dynamic_shapes=({1: torch.export.Dim.AUTO},))
        targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
        assert set(ops) <= targets, (name, sorted(targets))
        torch.export.save(program, str(tmp_path / f"{name}.pt2"))
        catalogue.add(name, tmp_path / f"{name}.pt2", model, example, 1, (example.shape[1] - 7, example.shape[1] + 13), sample)
    catalogue.check()
