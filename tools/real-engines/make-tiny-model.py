#!/usr/bin/env python3
"""A tiny Llama with random weights and a locally trained tokenizer, laid out as a Hugging Face hub-cache entry.

usage: make-tiny-model.py --hf-home <dir> --model-id <org/name> [--max-len 512]
       -> prints the snapshot directory; nothing is downloaded

The engine is started with the model argument exactly as rendered (e.g. meta-llama/Llama-3.1-8B-Instruct) and
HF_HOME pointing here: with HF_HUB_OFFLINE=1 huggingface_hub resolves <id> to
<HF_HOME>/hub/models--<org>--<name>/snapshots/<refs/main>/. Run it in the engine's venv (torch, transformers,
tokenizers). Deterministic: the same weights and tokenizer every time (fixed seeds, fixed corpus).
Sizes: hidden 256, 2 layers, 4 heads (head size 64, which vLLM's CPU attention accepts).
"""
import argparse
import hashlib
import json
import os
import random

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = ("the a model serves tokens request queue cache engine prompt answer fast slow metric latency batch "
         "decode prefill every second minute cluster node pod gpu cpu memory time first last next value count "
         "rate sum ratio error finish length stop stream client server user assistant system hello world").split()
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def corpus(n=4000, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        yield " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + rng.choice([".", "?", "!"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf-home", required=True)
    ap.add_argument("--model-id", required=True)
    ap.add_argument("--max-len", type=int, default=512)
    args = ap.parse_args()

    org, name = args.model_id.split("/", 1)
    revision = hashlib.sha1(f"cim-tiny-llama:{args.model_id}:{args.max_len}".encode()).hexdigest()
    repo = os.path.join(args.hf_home, "hub", f"models--{org}--{name}")
    snap = os.path.join(repo, "snapshots", revision)
    os.makedirs(snap, exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "</s>", "<pad>"]
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=args.max_len)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(snap)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=args.max_len, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(snap, safe_serialization=True)

    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(revision)
    with open(os.path.join(snap, "cim-tiny-model.json"), "w") as f:
        json.dump({"made_by": "tools/real-engines/make-tiny-model.py", "model_id": args.model_id, "max_len": args.max_len}, f)
    print(snap)


if __name__ == "__main__":
    main()
