#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses into fuzz/corpus/<harness>/: tiny synthetic
files (a few KB each) in every format the harnesses read, built here byte by byte so the seeds
do not depend on the shared models. Deterministic; rerun after changing a format."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n--\n"  # fuzz_util.h split_input


def out(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# A tiny Llama: d_model 8, 1 layer, 2 heads (1 KV head for GQA), head_dim 4, d_ff 16, vocab 12.
D, FF, V, L, H, KVH, HD = 8, 16, 12, 1, 2, 1, 4


def vals(n, seed):
    return [((i * 7 + seed * 13) % 17 - 8) / 16.0 for i in range(n)]


def weights(kv_heads=KVH):
    w = [("token_embd.weight", [V, D])]
    for l in range(L):
        p = "blk.%d." % l
        w += [(p + "attn_norm.weight", [D]), (p + "attn_q.weight", [H * HD, D]),
              (p + "attn_k.weight", [kv_heads * HD, D]), (p + "attn_v.weight", [kv_heads * HD, D]),
              (p + "attn_output.weight", [D, H * HD]), (p + "ffn_norm.weight", [D]),
              (p + "ffn_gate.weight", [FF, D]), (p + "ffn_up.weight", [FF, D]),
              (p + "ffn_down.weight", [D, FF])]
    w += [("output_norm.weight", [D])]
    return w


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def f16(x):
    return struct.pack("<e", x)


def spm_vocab():
    toks = ["<unk>", "<s>", "</s>", "<0x41>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "c", "."]
    scores = [0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -1.5, -2.5, -0.5, -4.0, -5.0]
    types = [2, 3, 3, 6, 1, 1, 1, 1, 1, 1, 1, 1]
    return toks, scores, types


# ---------------------------------------------------------------- GGUF
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gkv(key, t, v):
    b = gstr(key) + struct.pack("<I", t)
    if t == 4:
        b += struct.pack("<I", v)
    elif t == 5:
        b += struct.pack("<i", v)
    elif t == 6:
        b += struct.pack("<f", v)
    elif t == 8:
        b += gstr(v)
    elif t == 9:
        et, items = v
        b += struct.pack("<IQ", et, len(items))
        for it in items:
            b += gstr(it) if et == 8 else struct.pack({6: "<f", 5: "<i", 4: "<I"}[et], it)
    return b


def q8_0(xs):
    b = b""
    for k in range(0, len(xs), 32):
        blk = xs[k:k + 32]
        m = max(abs(x) for x in blk) or 1.0
        b += f16(m / 127) + bytes((round(x / m * 127)) & 0xff for x in blk)
    return b


def gguf(dtype_of=lambda name, shape: 0, arch="llama", vocab=True, kv_heads=KVH):
    kvs = [gkv("general.architecture", 8, arch), gkv("general.name", 8, "seed"),
           gkv(arch + ".context_length", 4, 32), gkv(arch + ".embedding_length", 4, D),
           gkv(arch + ".block_count", 4, L), gkv(arch + ".feed_forward_length", 4, FF),
           gkv(arch + ".attention.head_count", 4, H),
           gkv(arch + ".attention.head_count_kv", 4, kv_heads),
           gkv(arch + ".attention.layer_norm_rms_epsilon", 6, 1e-5),
           gkv(arch + ".rope.freq_base", 6, 10000.0)]
    if vocab:
        toks, scores, types = spm_vocab()
        kvs += [gkv("tokenizer.ggml.model", 8, "llama"), gkv("tokenizer.ggml.tokens", 9, (8, toks)),
                gkv("tokenizer.ggml.scores", 9, (6, scores)),
                gkv("tokenizer.ggml.token_type", 9, (5, types)),
                gkv("tokenizer.ggml.bos_token_id", 4, 1), gkv("tokenizer.ggml.eos_token_id", 4, 2)]
    infos, data = b"", b""
    for i, (name, shape) in enumerate(weights(kv_heads)):
        t = dtype_of(name, shape)
        xs = vals(numel(shape), i)
        blob = {0: lambda: struct.pack("<%df" % len(xs), *xs), 1: lambda: b"".join(f16(x) for x in xs),
                8: lambda: q8_0(xs)}[t]()
        infos += gstr(name) + struct.pack("<I", len(shape)) + b"".join(
            struct.pack("<Q", s) for s in reversed(shape)) + struct.pack("<IQ", t, len(data))
        data += blob + b"\0" * ((-len(blob)) % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(weights(kv_heads)), len(kvs)) + b"".join(kvs) + infos
    return head + b"\0" * ((-len(head)) % 32) + data


def gguf_seeds():
    out("gguf", "f32_spm", gguf())
    out("gguf", "f16_gqa", gguf(lambda n, s: 1 if len(s) == 2 else 0, kv_heads=1))
    out("gguf", "q8_0_mha", gguf(lambda n, s: 8 if len(s) == 2 and s[-1] % 32 == 0 else 0,
                                 kv_heads=2))
    out("gguf", "no_vocab_qwen2", gguf(arch="qwen2", vocab=False))
    out("gguf", "header_only", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gkv("a", 9, (8, ["x", "y"])))


# ---------------------------------------------------------------- safetensors + HF side files
HF_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
HF_LAYER = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
            "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
            "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def hf_name(n):
    if n in HF_NAMES:
        return HF_NAMES[n]
    _, l, kind, _ = n.split(".")
    return "model.layers.%s.%s.weight" % (l, HF_LAYER[kind])


def safetensors(tensors, metadata=None, dtype="F32"):
    header, data = {}, b""
    for name, shape, blob, dt in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def hf_config(**extra):
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D,
         "intermediate_size": FF, "num_hidden_layers": L, "num_attention_heads": H,
         "num_key_value_heads": KVH, "max_position_embeddings": 32, "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0, "vocab_size": V, "tie_word_embeddings": True, "torch_dtype": "float32",
         "bos_token_id": 1, "eos_token_id": 2}
    c.update(extra)
    return json.dumps(c)


def hf_tokenizer_spm():
    toks, _, _ = spm_vocab()
    return json.dumps({
        "added_tokens": [{"id": 1, "content": "<s>", "special": True}, {"id": 2, "content": "</s>", "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}]},
        "model": {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>",
                  "vocab": {t: i for i, t in enumerate(toks)}, "merges": ["\u2581 a", "a b", "\u2581a b"]}})


def hf_tokenizer_bytelevel():
    toks = ["a", "b", "c", "\u0120", "\u0120a", "ab", "<|endoftext|>", "d", "e", "f", "g", "h"]
    return json.dumps({
        "added_tokens": [{"id": 6, "content": "<|endoftext|>", "special": True}],
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated"},
            {"type": "ByteLevel", "add_prefix_space": False}]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(toks)}, "merges": [["\u0120", "a"], ["a", "b"]]}})


def safetensors_seeds():
    ts = []
    for i, (n, s) in enumerate(weights()):
        xs = vals(numel(s), i)
        ts.append((hf_name(n), s, struct.pack("<%df" % len(xs), *xs), "F32"))
    st = safetensors(ts, {"format": "pt"})
    out("safetensors", "llama_spm", st + SEP + hf_config().encode() + SEP + hf_tokenizer_spm().encode())
    out("safetensors", "llama_bytelevel", st + SEP + hf_config().encode() + SEP + hf_tokenizer_bytelevel().encode())
    bf = [(n, s, b"".join(struct.pack("<f", x)[2:] for x in vals(numel(s), 1)), "BF16") for n, s, _, _ in ts]
    out("safetensors", "bf16", safetensors(bf) + SEP + hf_config(torch_dtype="bfloat16").encode())
    out("safetensors", "header_only", safetensors([("x", [2, 2], b"\0" * 8, "F16")]))
    out("hf_config", "llama", hf_config())
    out("hf_config", "qwen2", hf_config(model_type="qwen2", architectures=["Qwen2ForCausalLM"]))
    out("hf_config", "llama3_scaling", hf_config(rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16}))
    out("hf_config", "mistral", hf_config(model_type="mistral", sliding_window=16, head_dim=4))
    out("hf_tokenizer", "spm", hf_tokenizer_spm())
    out("hf_tokenizer", "bytelevel", hf_tokenizer_bytelevel())


# ---------------------------------------------------------------- llama2.c + tokenizer.bin
def llama2c(v1=False, shared=True):
    q = H * HD
    kv = KVH * HD
    hdr = struct.pack("<7i", D, FF, L, H, KVH, V if shared else -V, 32)
    n = V * D + L * (2 * D + q * D + 2 * kv * D + D * q + 3 * FF * D) + D
    if not shared:
        n += V * D
    if v1:
        head = struct.pack("<Ii", 0x616b3432, 1) + hdr + struct.pack("<B", 1 if shared else 0)
        head += b"\0" * (256 - len(head))
    else:
        head = hdr
        n += 32 * HD  # freq_cis_real/imag
    xs = vals(n, 3)
    return head + struct.pack("<%df" % n, *xs)


def tokenizer_bin():
    toks, scores, _ = spm_vocab()
    b = struct.pack("<i", 8)
    for t, s in zip(toks, scores):
        e = t.replace("\u2581", " ").encode()
        b += struct.pack("<fi", s, len(e)) + e
    return b


def llama2c_seeds():
    tok = tokenizer_bin()
    out("llama2c", "v0_shared", llama2c() + SEP + tok)
    out("llama2c", "v0_unshared", llama2c(shared=False) + SEP + tok)
    out("llama2c", "v1", llama2c(v1=True) + SEP + tok)
    out("llama2c", "tokenizer_only", struct.pack("<7i", D, FF, L, H, KVH, V, 32) + SEP + tok)


# ---------------------------------------------------------------- rank plans, calibration, tasks
def plan(method, groups_per_layer, ranks, **extra):
    p = {"method": method, "granularity": "group:%d" % (2 // groups_per_layer) if groups_per_layer < 2 else "head",
         "planner": "uniform", "budget": 0.5, "key_mode": "absorbed" if method.startswith("mkv") else "rebuild"}
    p.update(extra)
    p["layers"] = [{"groups": [{"kv_head_begin": g * (2 // groups_per_layer), "n_kv_heads": 2 // groups_per_layer,
                                "rank_k": ranks, "rank_v": ranks} for g in range(groups_per_layer)]}
                   for _ in range(2)]
    return json.dumps(p)


def calibration(layers=1, d=D, kvh=KVH, hd=HD, n_tokens=64):
    kv = kvh * hd
    ts = []
    for l in range(layers):
        def add(name, shape):
            xs = vals(numel(shape), len(ts))
            ts.append(("blk.%d.%s" % (l, name), shape, struct.pack("<%dd" % len(xs), *xs), "F64"))
        add("xtx", [d, d])
        for m in ("k_pre", "k_post", "v"):
            add(m + ".sum", [kv])
            add(m + ".sxx", [kv, kv])
        add("k_freq.re", [hd // 2, kvh, kvh])
        add("k_freq.im", [hd // 2, kvh, kvh])
    meta = {"lrkv.calibration": json.dumps({"version": 1, "model": "seed", "text": "seed.txt", "n_tokens": n_tokens,
                                            "d_model": d, "n_layer": layers, "n_kv_head": kvh, "head_dim": hd})}
    return safetensors(ts, meta)


def task_seeds():
    arc = {"question": {"stem": "Which is a fruit?", "choices": [{"text": "apple", "label": "A"}, {"text": "rock", "label": "B"}]},
           "answerKey": "A"}
    out("tasks", "arc", b"\x01" + (json.dumps(arc) + "\n" + json.dumps(arc)).encode())
    out("tasks", "piqa", b"\x02" + json.dumps({"goal": "Open a jar", "sol1": "twist", "sol2": "sing"}).encode() + SEP + b"0\n")
    out("tasks", "winogrande", b"\x03" + json.dumps({"sentence": "The cup fell because _ was slippery.", "option1": "it",
                                                      "option2": "he", "answer": "1"}).encode())
    out("tasks", "boolq", b"\x04" + json.dumps({"passage": "Water is wet.", "question": "is water wet", "label": True}).encode())
    out("tasks", "hellaswag", b"\x05" + b"A man sits\n1\n down.\n up.\n left.\n right.\n")
    out("tasks", "generic", b"\x06" + json.dumps({"context": "2+2=", "choices": ["4", {"text": "5"}], "answer": "A"}).encode())
    out("tasks", "auto_generic", b"\x00" + json.dumps({"question": "Sky?", "choices": ["blue", "red"], "label": 0}).encode())
    import bz2
    out("tasks", "arc_bz2", b"\x01" + bz2.compress((json.dumps(arc) + "\n").encode()))


def api_request_seeds():
    # Byte 0: bit 0 = chat endpoint, bits 1.. = max_tokens limit (fuzz_api_request.cpp).
    out("api_request", "completion", b"\x40" + json.dumps({
        "prompt": "Once upon a time", "max_tokens": 16, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 3,
        "stop": ["\n", "The"], "stream": True, "stream_options": {"include_usage": True}}).encode())
    out("api_request", "chat", b"\x41" + json.dumps({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_tokens": 8, "ignore_eos": True}).encode())
    out("api_request", "prompt_list", b"\x20" + json.dumps({"prompt": ["a b"], "max_completion_tokens": 3, "n": 1}).encode())
    out("api_request", "chat_parts", b"\x21" + json.dumps({
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}).encode())


def main():
    api_request_seeds()
    gguf_seeds()
    safetensors_seeds()
    llama2c_seeds()
    out("rank_plan", "palu_head", plan("palu", 2, 3))
    out("rank_plan", "mkv_group", plan("mkv-pca", 1, 5, latent_bits=4, latent_group=32, latent_symmetric=True))
    out("rank_plan", "lorc_joint", plan("lorc", 1, 8, granularity="joint"))
    out("calibration", "one_layer", calibration())
    out("calibration", "two_layers_gqa", calibration(layers=2, kvh=2, hd=2, d=4))
    task_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
