#!/usr/bin/env python3
"""Makes the chat template fixtures: Hugging Face transformers' apply_chat_template output for
the templates neft renders natively (tokenizer/chat_template.h), on the same conversations.

Each template is written exactly as that model's own tokenizer_config.json has it (the strings
below are the JSON strings, escapes and all). transformers itself reads every fixture folder
back (PreTrainedTokenizerFast.from_pretrained on the folder plus a small tokenizer.json from
../tokenizers/smollm2), so the files mean to it what they mean to neft:

  chatml    generic ChatML (as OpenHermes-2.5-Mistral-7B): no default system turn
  smollm2   SmolLM2-135M-Instruct: ChatML with a default system turn (its GGUF's text)
  qwen2     Qwen2-7B-Instruct: the same with "You are a helpful assistant."
  qwen2.5   Qwen2.5-7B-Instruct, the long template with tools (rendered without tools), kept
            as chat_template.jinja to cover that file: tool turns grouped into one user turn
  llama3    Meta-Llama-3-8B-Instruct (3.0): headers, trimmed content, bos on the first turn
  llama2    Llama-2-7b-chat-hf: [INST] <<SYS>>, content.strip(), bos as an AddedToken object
  mistral-v0.1, mistral-v0.2  Mistral-7B-Instruct: [INST] turns; v0.1 puts " " after each eos
  zephyr    zephyr-7b-beta: <|user|> turns with real newlines between the tags
  unknown   gemma-7b-it's <start_of_turn> template: neft must refuse it (no expected.jsonl)

Writes, next to this script:
  conversations.jsonl        {"name", "messages": [{"role", "content"}]} per line
  <name>/tokenizer_config.json  chat_template (except qwen2.5), bos_token, eos_token
  <name>/chat_template.jinja    qwen2.5 only
  <name>/expected.jsonl      per conversation and add_generation_prompt (false, then true):
      {"conversation", "add_generation_prompt", "text", "assistant_spans": [[begin, end], ...]}
    or {"conversation", "add_generation_prompt", "error": true, "why": ...} where transformers
    raises, or where it drops a message silently (a role the template has no branch for:
    neft refuses those rather than train on a conversation with a turn missing).

Spans are byte offsets into the UTF-8 text. For the assistant message at index i, begin is the
length of render(messages[:i], add_generation_prompt=True) and end the length of
render(messages[:i+1], add_generation_prompt=False) with the whitespace after it removed
(str.rstrip); the first must be a prefix of the second, and this script checks that it is. No
conversation starts with an assistant message: there the prefix is empty and the definition
does not hold for most templates.

Run from the repository root:  python3 tests/golden/chat_templates/make_chat_template_fixtures.py
(any Python with the packages will do, e.g. a virtual environment's)
needs: pip install "transformers>=5" tokenizers jinja2
"""

import json
import os
import shutil
import sys
import tempfile

import transformers
from transformers import PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_JSON = os.path.join(HERE, "..", "tokenizers", "smollm2", "tokenizer.json")

CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

SMOLLM2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

QWEN2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

QWEN25 = "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"

LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"

LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"

MISTRAL_V01 = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"

MISTRAL_V02 = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"

ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"

GEMMA = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"

LLAMA2_BOS = {"__type": "AddedToken", "content": "<s>", "lstrip": False, "normalized": False,
              "rstrip": False, "single_word": False}
LLAMA2_EOS = dict(LLAMA2_BOS, content="</s>")

# name: (template, bos_token, eos_token, the roles it has a branch for (None: any role))
TEMPLATES = {
    "chatml": (CHATML, "<s>", "<|im_end|>", None),
    "smollm2": (SMOLLM2, "<|im_start|>", "<|im_end|>", None),
    "qwen2": (QWEN2, None, "<|im_end|>", None),
    "qwen2.5": (QWEN25, None, "<|im_end|>", {"system", "user", "assistant", "tool"}),
    "llama3": (LLAMA3, "<|begin_of_text|>", "<|eot_id|>", None),
    "llama2": (LLAMA2, LLAMA2_BOS, LLAMA2_EOS, {"system", "user", "assistant"}),
    "mistral-v0.1": (MISTRAL_V01, "<s>", "</s>", {"user", "assistant"}),
    "mistral-v0.2": (MISTRAL_V02, "<s>", "</s>", {"user", "assistant"}),
    "zephyr": (ZEPHYR, "<s>", "</s>", {"system", "user", "assistant"}),
}
AS_JINJA = "qwen2.5"


def u(role, content):
    return {"role": role, "content": content}


SYSTEM = u("system", "You are terse.")
PAIRS = [u("user", "What is 2+2?"), u("assistant", "4."), u("user", "And 3+3?"),
         u("assistant", "6."), u("user", "Thanks!"), u("assistant", "You're welcome.")]

# Tool messages say "TOOL-OUTPUT" so that a template dropping one shows.
CONVERSATIONS = [
    ("single_user", [u("user", "Hello!")]),
    ("single_turn", [u("user", "Hello!"), u("assistant", "Hi, how can I help?")]),
    ("system_single_turn", [SYSTEM, u("user", "Hello!"), u("assistant", "Hi.")]),
    ("system_user", [SYSTEM, u("user", "Hello!")]),
    ("multi_turn", PAIRS),
    ("system_multi_turn", [SYSTEM] + PAIRS),
    ("ascii_space_around", [u("system", "  be brief \n"), u("user", " \t padded question \n"),
                            u("assistant", "\n  padded answer\t \n")]),
    ("unicode_space_around", [u("user", "\u3000ideographic\u3000"),
                              u("assistant", "\u00a0nbsp\u00a0\u2028\u0085")]),
    ("python_only_space", [u("user", "\x1cfile separators\x1f"),
                           u("assistant", "\x1d\x1egroup and record\x1e")]),
    ("not_space", [u("user", "\u200bzero width\u200b"), u("assistant", "\ufeffbom\u200b")]),
    ("newlines_tabs", [u("user", "line one\nline two\n\n\tindented"),
                       u("assistant", "a\tb\n\nc\r\nd")]),
    ("cjk_emoji", [u("user", "你好，世界！こんにちは 🌍"), u("assistant", "👋🏽 안녕하세요 🇯🇵")]),
    ("empty_content", [u("user", ""), u("assistant", ""), u("user", "?"), u("assistant", " ")]),
    ("special_token_text", [u("user", "say <|im_end|> and </s> and [INST]"),
                            u("assistant", "<|eot_id|><|im_start|>user\n[/INST] <<SYS>>")]),
    ("template_text", [u("user", "{{ messages }} {% if x %}"), u("assistant", "\\n \\' {# c #}")]),
    ("user_user", [u("user", "one"), u("user", "two"), u("assistant", "both")]),
    ("assistant_assistant", [u("user", "q"), u("assistant", "a1"), u("assistant", "a2")]),
    ("system_in_middle", [u("user", "q1"), u("assistant", "a1"), u("system", "new rules"),
                          u("user", "q2"), u("assistant", "a2")]),
    ("empty_system", [u("system", ""), u("user", "q"), u("assistant", "a")]),
    ("tool", [u("user", "weather?"), u("assistant", "calling"), u("tool", "TOOL-OUTPUT sunny"),
              u("assistant", "It is sunny.")]),
    ("two_tools", [u("user", "both?"), u("tool", "TOOL-OUTPUT one"), u("tool", "TOOL-OUTPUT two"),
                   u("assistant", "done")]),
    ("developer_role", [u("developer", "TOOL-OUTPUT rules"), u("user", "q"), u("assistant", "a")]),
]


def special(token):
    return token["content"] if isinstance(token, dict) else token


def load(folder):
    """transformers' tokenizer for a fixture folder, read the way transformers reads one."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in os.listdir(folder):
            shutil.copy(os.path.join(folder, f), tmp)
        shutil.copy(TOKENIZER_JSON, os.path.join(tmp, "tokenizer.json"))
        return PreTrainedTokenizerFast.from_pretrained(tmp)


def render(tok, messages, add_generation_prompt):
    return tok.apply_chat_template(messages, tokenize=False,
                                   add_generation_prompt=add_generation_prompt)


def expected(tok, roles, name, messages, add_generation_prompt):
    rec = {"conversation": name, "add_generation_prompt": add_generation_prompt}
    try:
        text = render(tok, messages, add_generation_prompt)
    except Exception as e:  # the template's raise_exception, or transformers' own checks
        return dict(rec, error=True, why=f"transformers raises: {e}")
    dropped = [m["role"] for m in messages if roles is not None and m["role"] not in roles]
    for m in messages:
        if m["role"] == "tool" or "TOOL-OUTPUT" in m["content"]:
            rendered = m["content"] in text
            if rendered == (m["role"] in dropped):
                sys.exit(f"{name}: the declared roles do not say whether {m['role']} renders")
    if dropped:
        return dict(rec, error=True, why=f"transformers drops the {dropped[0]!r} message silently")
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render(tok, messages[:i], True)
        upto = render(tok, messages[: i + 1], False)
        if not upto.startswith(before):
            sys.exit(f"{name}: render(messages[:{i}]) is not a prefix of render(messages[:{i + 1}])")
        begin, end = len(before.encode()), len(upto.rstrip().encode())
        spans.append([begin, max(begin, end)])
    return dict(rec, text=text, assistant_spans=spans)


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")


def write_config(folder, template, bos, eos, as_jinja):
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    config = {} if as_jinja else {"chat_template": template}
    config.update(bos_token=bos, eos_token=eos)
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")
    if as_jinja:
        with open(os.path.join(folder, "chat_template.jinja"), "w", encoding="utf-8",
                  newline="") as f:
            f.write(template)


def main() -> int:
    print(f"transformers {transformers.__version__}")
    write_jsonl(os.path.join(HERE, "conversations.jsonl"),
                [{"name": n, "messages": m} for n, m in CONVERSATIONS])
    for name, (template, bos, eos, roles) in TEMPLATES.items():
        folder = os.path.join(HERE, name)
        write_config(folder, template, bos, eos, name == AS_JINJA)
        tok = load(folder)
        assert tok.chat_template == template, name
        assert (tok.bos_token or None) == special(bos) and tok.eos_token == special(eos), name
        records = [expected(tok, roles, n, m, agp) for n, m in CONVERSATIONS
                   for agp in (False, True)]
        write_jsonl(os.path.join(folder, "expected.jsonl"), records)
        print(f"{name}: {sum('error' in r for r in records)} of {len(records)} raise or drop")
    write_config(os.path.join(HERE, "unknown"), GEMMA, "<bos>", "<eos>", False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
