#!/usr/bin/env python3
"""Makes the tokenizer fixtures: one tokenizer.json per family and Hugging Face tokenizers'
ids for the same 2400 strings.

No real model's tokenizer can be fetched where this runs, so each family's tokenizer is
built the way that family's is: the same normalizer, pre-tokenizer (the family's own split
regex), model options, added tokens, post-processor and decoder, with a small vocabulary
trained here on generated multilingual text. The pipeline is the family's; only the merges
are ours.

  gpt2      byte-level BPE, GPT-2's regex in the ByteLevel pre-tokenizer
  llama3    Split on Llama-3's regex, then ByteLevel without it; ignore_merges; <|begin_of_text|>
  smollm2   Digits (one per digit) then ByteLevel with GPT-2's regex (SmolLM2 / StarCoder)
  qwen2     NFC, Split on Qwen2's regex (single digits), ByteLevel without regex
  llama2    SentencePiece BPE with byte fallback, converted as transformers converts Llama-2's
            (legacy): Prepend + Replace normalizer, no pre-tokenizer, <s> prefix
  mistral   the same model converted without legacy: Metaspace pre-tokenizer (prepend "first")
  options   not a family: the normalizers, Split behaviours, added-token options and
            post-processor the families leave unused
  unknown   not a family: an alphabet short of the text, so <unk> (fused), and Metaspace
            splitting with its own decoder

Writes, next to this script:
  strings.jsonl            {"text": ...} per line: the strings every family is checked on
  <family>/tokenizer.json  as tokenizers saves it
  <family>/ids.jsonl       per string {"ids": encode(text, add_special_tokens=False)},
                           with "with_special": encode(text) (the post-processor applied)
                           for the first 300 strings where that differs, and "decoded": decode(ids) where that is
                           not the text itself

Run from the repository root:  python3 tests/golden/tokenizers/make_tokenizer_fixtures.py
needs: pip install tokenizers transformers sentencepiece protobuf
"""

import json
import os
import random
import sys
import tempfile
import unicodedata

import sentencepiece as spm
import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer
from transformers.convert_slow_tokenizer import SentencePieceExtractor

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 1500
STRINGS = 2400
WITH_SPECIAL = 300  # strings whose post-processed ids are kept too

GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
QWEN2_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no out "
    "model token neuron train layer weight gradient attention Hello World Python Rust naïve café "
    "résumé über straße façade déjà vu coöperate Ærø Ωmega Привет мир Здравствуйте Γειά σου "
    "κόσμε مرحبا بالعالم שלום עולם नमस्ते दुनिया こんにちは 世界 你好 世界 中文 分词 训练 模型 "
    "안녕하세요 세계 สวัสดี ชาวโลก Xin chào thế giới I'm you're we've they'll she'd it's DON'T "
    "Can't WON'T"
).split()
CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "if x == None:  # check\n    pass",
    "std::vector<int> v{1, 2, 3};",
    "SELECT * FROM t WHERE id=42;",
    "<div class=\"a\">&amp;</div>",
    "x = {'k': [1, 2.5, -3e-4]}",
    "$ ./run.sh --lr=3e-4 >> log.txt 2>&1",
    "https://example.com/path?q=1&r=two#frag",
    "fn main() { println!(\"{}\", 1_000); }",
]
EMOJI = ["😀", "🚀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "❤️", "🤖", "✨", "🎉", "🧪"]
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3)]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\r\n", "\u00a0", "\u3000", "\u2009", "    "]


def piece(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.45:
        return rng.choice(WORDS)
    if k < 0.55:
        return rng.choice(CODE)
    if k < 0.65:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9)))
        return rng.choice([digits, digits + "." + digits[:2], "-" + digits, digits + "%"])
    if k < 0.75:
        lo, hi = rng.choice(CJK_RANGES)
        return "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6)))
    if k < 0.82:
        return rng.choice(EMOJI)
    if k < 0.88:
        # Decomposed accents (NFD), which an NFC normalizer composes.
        return unicodedata.normalize("NFD", rng.choice(["é", "ñ", "ü", "Å", "ç", "ő", "ẞ"]))
    if k < 0.94:
        return rng.choice(".,;:!?()[]{}\"'-_/\\@#$%^&*+=<>|~`…—–«»“”")
    return chr(rng.randint(0x20, 0x2FFF))  # anything, including rare symbols


def text(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        out.append(piece(rng))
        out.append(rng.choice(SPACES) if rng.random() < 0.25 else " ")
    s = "".join(out)
    return s if rng.random() < 0.7 else s.strip()


def corpus(seed: int, lines: int) -> list:
    rng = random.Random(seed)
    return [text(rng, rng.randint(5, 40)) for _ in range(lines)]


def test_strings(specials: list) -> list:
    rng = random.Random(2024)
    fixed = ["", " ", "  ", "\n", "\t\t", "a", "é", "😀", "1234567890", "  leading", "trailing  ",
             "Hello world", "hello World!", " Hello", "I'm here. You're there.", "中文分词",
             "مرحبا", "x" * 300, "9" * 50, "ab" * 40 + "\n" * 5, "   \n\n   \t", "😀" * 12]
    out = list(fixed)
    while len(out) < STRINGS:
        s = text(rng, rng.randint(1, 10))
        if rng.random() < 0.15 and specials:
            at = rng.randint(0, len(s))
            s = s[:at] + rng.choice(specials) + s[at:]
        out.append(s)
    return out


def byte_level(name: str, pre, normalizer=None, specials=(), ignore_merges=False, template=None):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(vocab_size=VOCAB, special_tokens=list(specials),
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(1, 6000), trainer)
    post = [processors.ByteLevel(trim_offsets=False)]
    if template:
        post.append(processors.TemplateProcessing(
            single=f"{template} $A", pair=f"{template} $A {template} $B",
            special_tokens=[(template, tok.token_to_id(template))]))
    tok.post_processor = processors.Sequence(post) if len(post) > 1 else post[0]
    return tok


def sentencepiece_family(legacy: bool):
    """A SentencePiece BPE model with byte fallback, converted as transformers converts Llama's."""
    with tempfile.TemporaryDirectory() as d:
        # SentencePiece wants most characters seen often: rare ones are left out of its
        # training text (and so reach the tokenizer through byte fallback).
        lines = corpus(1, 6000)
        counts = {}
        for line in lines:
            for ch in line:
                counts[ch] = counts.get(ch, 0) + 1
        path = os.path.join(d, "corpus.txt")
        with open(path, "w", encoding="utf-8") as f:
            for line in lines:
                kept = "".join(ch for ch in line.replace("\n", " ") if counts[ch] >= 40)
                f.write(kept + "\n")
        spm.SentencePieceTrainer.train(
            input=path, model_prefix=os.path.join(d, "sp"), vocab_size=VOCAB, model_type="bpe",
            byte_fallback=True, character_coverage=1.0, split_digits=True,
            allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
            normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2,
            minloglevel=2, num_threads=1)
        # transformers' LlamaConverter, step by step (its own entry point does not run on a
        # bare model file): BPE over the pieces with byte fallback, control pieces as special
        # added tokens, and the legacy or non-legacy normalization.
        pieces = SentencePieceExtractor(os.path.join(d, "sp.model")).extract(models.BPE)
        tok = Tokenizer(models.BPE(pieces["vocab"], pieces["merges"], unk_token="<unk>",
                                   fuse_unk=True, byte_fallback=True, dropout=None))
        tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                                for t in ("<unk>", "<s>", "</s>")])
        if legacy:
            tok.normalizer = normalizers.Sequence(
                [normalizers.Prepend(prepend="▁"), normalizers.Replace(pattern=" ", content="▁")])
        else:
            tok.pre_tokenizer = pre_tokenizers.Metaspace(
                replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                         decoders.Fuse(), decoders.Strip(content=" ", left=1)])
        # LlamaTokenizerFast's post-processor: <s> before the text.
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
        return tok


GPT2_SPECIAL = ["<|endoftext|>"]
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eot_id|>"]
CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SP_SPECIAL = ["<s>", "</s>", "<unk>"]
OPTIONS_ADDED = ["<mask>", "[end]", " <mask> ", "[end]  x", "model", "models", "token"]


def families():
    gpt2_special, llama3_special, chatml = GPT2_SPECIAL, LLAMA3_SPECIAL, CHATML
    yield "gpt2", gpt2_special, byte_level(
        "gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        specials=gpt2_special)
    yield "llama3", llama3_special, byte_level(
        "llama3",
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)]),
        specials=llama3_special, ignore_merges=True, template="<|begin_of_text|>")
    yield "smollm2", chatml, byte_level(
        "smollm2",
        pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]),
        specials=chatml)
    yield "qwen2", chatml, byte_level(
        "qwen2",
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)]),
        normalizer=normalizers.NFC(), specials=chatml)
    yield "llama2", SP_SPECIAL, sentencepiece_family(legacy=True)
    yield "mistral", SP_SPECIAL, sentencepiece_family(legacy=False)
    yield "options", [], options_tokenizer()
    yield "unknown", [], unknown_tokenizer()


def options_tokenizer():
    """Not a family: the options the families leave unused, in one byte-level tokenizer.

    Normalizers NFKC, Lowercase, a regex Replace and Strip; every Split behaviour, invert,
    WhitespaceSplit and ByteLevel with add_prefix_space; added tokens with lstrip, rstrip,
    single_word and normalized; a RobertaProcessing post-processor.
    """
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Lowercase(),
        normalizers.Replace(Regex(r"[0-9]{4,}"), "#"), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("-", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[.,;:!?]"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[0-9]"), behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"\p{L}+"), behavior="removed", invert=True),
        pre_tokenizers.Split("_", behavior="removed"),
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                         show_progress=False)
    tok.train_from_iterator(corpus(3, 3000), trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True),
                            AddedToken("[end]", rstrip=True, special=True),
                            AddedToken("<s>", special=True), AddedToken("</s>", special=True)])
    tok.add_tokens([AddedToken("model", single_word=True, normalized=True),
                    AddedToken("token", normalized=False)])
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return tok


def unknown_tokenizer():
    """A BPE whose alphabet is only what its training text held: everything else is <unk>
    (fused when consecutive), with Metaspace splitting at each space (prepend always)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always",
                                                 split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = BpeTrainer(vocab_size=600, special_tokens=["<unk>"], show_progress=False,
                         limit_alphabet=60)
    tok.train_from_iterator(corpus(4, 3000), trainer)
    return tok


def main() -> int:
    all_specials = sorted(set(GPT2_SPECIAL + LLAMA3_SPECIAL + CHATML + SP_SPECIAL + OPTIONS_ADDED))
    strings = test_strings(all_specials)
    with open(os.path.join(HERE, "strings.jsonl"), "w", encoding="utf-8") as f:
        for s in strings:
            f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
    for name, _, tok in families():
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # exactly what is shipped
        with open(os.path.join(d, "ids.jsonl"), "w", encoding="utf-8") as f:
            for k, s in enumerate(strings):
                ids = tok.encode(s, add_special_tokens=False).ids
                rec = {"ids": ids}
                with_special = tok.encode(s).ids
                if with_special != ids and k < WITH_SPECIAL:
                    rec["with_special"] = with_special
                decoded = tok.decode(ids, skip_special_tokens=False)
                if decoded != s:
                    rec["decoded"] = decoded
                f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        print(f"{name}: vocab {tok.get_vocab_size()}, {size / 1e3:.0f} kB")
    print(f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
