"""Corpus: chat templates, benign (real model templates) and malicious (jinja2 sandbox escapes).

The real templates below are written from the published tokenizer_config.json files of each
model family (whitespace control and wording as faithful as memory allows); they use what real
templates use: ``raise_exception``, ``strftime_now``, ``namespace()`` for loop state, ``tools``,
``tojson``, ``{% generation %}``. The malicious ones use the published escape techniques.

None of the escapes works against jinja2 3.1.6's ``ImmutableSandboxedEnvironment`` (the loader
transformers uses): rendering them in a subprocess leaves the canary absent, so these samples
carry no victim; the detection is what is tested.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.corpus import Sample

LLAMA3 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# Qwen3: namespace() state, reversed loops, string methods on content, reasoning blocks.
QWEN3 = """{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}"
)

# Mistral's tool-calling template (v0.3 / Nemo style): namespace state, id checks, tojson.
MISTRAL_TOOLS = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
        {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# SmolLM3/Phi style training template: transformers' {% generation %} block.
GENERATION_BLOCK = (
    "{% for message in messages %}{% if message['role'] == 'assistant' %}{% generation %}"
    "{{ '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}{% endgeneration %}"
    "{% else %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

# DeepSeek-R1 style: many namespace fields and string splitting.
DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', "
    "is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}"
    "{% set ns.is_first_sp = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt + "
    "'\\n\\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"  # noqa: RUF001
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"  # noqa: RUF001
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"  # noqa: RUF001
)

REAL_TEMPLATES: dict[str, str] = {
    "llama3": LLAMA3,
    "qwen2.5": QWEN25,
    "qwen3": QWEN3,
    "chatml": CHATML,
    "gemma": GEMMA,
    "mistral": MISTRAL,
    "mistral-tools": MISTRAL_TOOLS,
    "generation-block": GENERATION_BLOCK,
    "deepseek-r1": DEEPSEEK_R1,
}

# Each escape hides in an otherwise ordinary ChatML template, as a real attack would.
_CHATML_LOOP = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n'}}{% endfor %}"
)
ESCAPES: dict[str, str] = {
    "cycler-init-globals-os-popen": "{{ cycler.__init__.__globals__.os.popen('touch CANARY').read() }}",
    "lipsum-globals-builtins": "{{ lipsum.__globals__['__builtins__']['__import__']('os').system('touch CANARY') }}",
    "joiner-init-globals": "{{ joiner.__init__.__globals__.os.system('touch CANARY') }}",
    "attr-filter-escaped-names": (
        "{{ (messages|attr('\\x5f\\x5fclass\\x5f\\x5f')|attr('\\x5f\\x5fmro\\x5f\\x5f'))[1]"
        "|attr('\\x5f\\x5fsubclasses\\x5f\\x5f')() }}"
    ),
    "string-built-names": (
        "{% set u = '_' * 2 %}{% set g = u ~ 'glo' ~ 'bals' ~ u %}{% set i = u ~ 'in' ~ 'it' ~ u %}"
        "{{ (cycler|attr(i)|attr(g))['os'].system('touch CANARY') }}"
    ),
    "join-built-names": ("{% set n = ['_', '_', 'cla', 'ss', '_', '_']|join %}{{ ''[n] }}"),
    "format-built-names": (
        "{% set n = '%sglobals%s'|format('__', '__') %}{{ lipsum[n].os.popen('touch CANARY') }}"
    ),
    "namespace-internals": (
        "{% set ns = namespace(a=1) %}{{ ns.__init__.__globals__['sys'].modules['os']"
        ".system('touch CANARY') }}"
    ),
    "self-template-reference-context": (
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('touch CANARY') }}"
    ),
    "format-string-attribute": "{{ '{0.__class__.__mro__}'.format(messages) }}",
    "attr-format-method": (
        "{% set fmt = 'x'|attr('format') %}{{ fmt('{0.__class__.__base__}', messages) }}"
    ),
    "reversed-name": "{{ messages|attr('__ssalc__'|reverse) }}",
    "bos-token-attribute-name": "{{ messages|attr(bos_token) }}",
}


def _with_chatml(escape: str) -> str:
    return (
        _CHATML_LOOP
        + "\n"
        + escape
        + "\n{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )


def _tokenizer_config(template: str | list[dict[str, str]], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenizer_config.json"
    config = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "model_max_length": 4096,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": template,
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def _escape_sample(name: str, escape: str) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        return _tokenizer_config(_with_chatml(escape.replace("CANARY", str(canary))), directory)

    return Sample(
        name=f"tokenizer-config-template-{name}",
        build=build,
        malicious=True,
        rules=("MLS-TPL-001", "MLS-TPL-002", "MLS-TPL-003", "MLS-TPL-004"),
        technique=f"jinja2 sandbox escape in chat_template: {name}",
    )


def _jinja_file(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "chat_template.jinja"
    escape = ESCAPES["cycler-init-globals-os-popen"].replace("CANARY", str(canary))
    path.write_text(_with_chatml(escape), encoding="utf-8")
    return path


def _named_templates(directory: Path, canary: Path) -> Path:
    escape = ESCAPES["lipsum-globals-builtins"].replace("CANARY", str(canary))
    return _tokenizer_config(
        [
            {"name": "default", "template": CHATML},
            {"name": "tool_use", "template": _with_chatml(escape)},
        ],
        directory,
    )


def _duplicate_key(directory: Path, canary: Path) -> Path:
    # Loaders keep the last key; a reviewer (or a scanner) reading the first sees ChatML.
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenizer_config.json"
    escape = _with_chatml(ESCAPES["joiner-init-globals"].replace("CANARY", str(canary)))
    path.write_text(
        '{"chat_template": ' + json.dumps(CHATML) + ', "bos_token": "<s>", '
        '"chat_template": ' + json.dumps(escape) + "}",
        encoding="utf-8",
    )
    return path


def _benign_config(template: str) -> Sample:
    name = next(k for k, v in REAL_TEMPLATES.items() if v == template)
    return Sample(
        name=f"tokenizer-config-real-template-{name}",
        build=lambda directory, canary: _tokenizer_config(template, directory),
        malicious=False,
        technique=f"the published {name} chat template",
    )


def _benign_jinja(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "chat_template.jinja"
    path.write_text(QWEN25, encoding="utf-8")
    return path


SAMPLES = [
    *(_escape_sample(name, escape) for name, escape in ESCAPES.items()),
    Sample(
        name="chat-template-jinja-file-cycler-escape",
        build=_jinja_file,
        malicious=True,
        rules=("MLS-TPL-001",),
        technique="standalone chat_template.jinja with a sandbox escape",
    ),
    Sample(
        name="tokenizer-config-named-template-list-escape",
        build=_named_templates,
        malicious=True,
        rules=("MLS-TPL-001",),
        technique="escape hidden in the second of a list of named chat templates",
    ),
    Sample(
        name="tokenizer-config-duplicate-chat-template-key",
        build=_duplicate_key,
        malicious=True,
        rules=("MLS-TPL-001",),
        technique="two chat_template keys: the loader renders the second, a reader sees the first",
    ),
    *(_benign_config(t) for t in REAL_TEMPLATES.values()),
    Sample(
        name="chat-template-jinja-file-real-qwen",
        build=_benign_jinja,
        malicious=False,
        technique="standalone chat_template.jinja holding Qwen 2.5's template",
    ),
]
