"""Precompiled structuring functions of the classes ``chatplug.types`` defines (generated: do not edit).

Written by ``core/tools/generate_structurers.py`` from what
``chatplug._convert.structure_source`` generates for each class. These
functions are never called from here: ``_convert`` takes the code of one
(only when its checksum below matches the source it generates now) and runs
it with that class's own globals, which is why the names they read are not
defined in this module.
"""
# ruff: noqa
# mypy: ignore-errors

#: crc32 of the source each function was generated from, by class name.
CHECKSUMS = {
    'ChatCompletion': 4000273937,
    'ChatCompletionMessage': 3822691819,
    'ChatCompletionMessageToolCall': 4040176756,
    'Choice': 939717824,
    'CompletionTokensDetails': 2432124608,
    'Function': 4077594623,
    'PromptTokensDetails': 716293124,
    'Usage': 1485213136,
}


def structure_ChatCompletion(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChatCompletion, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('id')
    if v is None:
        v = _default_id
    else:
        if v.__class__ is not str: _bad_id('ChatCompletion.id', 'str', v)
    self.id = v
    v = o.get('object')
    if v is None:
        v = _default_object
    else:
        if v.__class__ is not str: _bad_object('ChatCompletion.object', 'str', v)
    self.object = v
    v = o.get('created')
    if v is None:
        v = _default_created
    else:
        if v.__class__ is not int: v = _int(v, None)
    self.created = v
    v = o.get('model')
    if v is None:
        v = _default_model
    else:
        if v.__class__ is not str: _bad_model('ChatCompletion.model', 'str', v)
    self.model = v
    v = o.get('choices')
    if v is None:
        v = _factory_choices()
    else:
        if v.__class__ is not list: _bad_list('ChatCompletion.choices', 'list', v)
        v = [_s_choices(v[0], None)] if len(v) == 1 else [_s_choices(item, None) for item in v]
    self.choices = v
    v = o.get('usage')
    if v is not None:
        v = _s_usage(v, None)
    self.usage = v
    v = o.get('system_fingerprint')
    if v is not None:
        if v.__class__ is not str: _bad_system_fingerprint('ChatCompletion.system_fingerprint', 'str', v)
    self.system_fingerprint = v
    v = o.get('service_tier')
    if v is not None:
        if v.__class__ is not str: _bad_service_tier('ChatCompletion.service_tier', 'str', v)
    self.service_tier = v
    self._raw = o
    return self


def structure_ChatCompletionMessage(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChatCompletionMessage, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('role')
    if v is None:
        v = _default_role
    else:
        if v.__class__ is not str: _bad_role('ChatCompletionMessage.role', 'str', v)
    self.role = v
    v = o.get('content')
    if v is not None:
        if v.__class__ is not str: _bad_content('ChatCompletionMessage.content', 'str', v)
    self.content = v
    v = o.get('reasoning_content')
    if v is not None:
        if v.__class__ is not str: _bad_reasoning_content('ChatCompletionMessage.reasoning_content', 'str', v)
    self.reasoning_content = v
    v = o.get('tool_calls')
    if v is not None:
        if v.__class__ is not list: _bad_list('ChatCompletionMessage.tool_calls', 'list', v)
        v = [_s_tool_calls(v[0], None)] if len(v) == 1 else [_s_tool_calls(item, None) for item in v]
    self.tool_calls = v
    v = o.get('refusal')
    if v is not None:
        if v.__class__ is not str: _bad_refusal('ChatCompletionMessage.refusal', 'str', v)
    self.refusal = v
    v = o.get('name')
    if v is not None:
        if v.__class__ is not str: _bad_name('ChatCompletionMessage.name', 'str', v)
    self.name = v
    self._raw = o
    return self


def structure_ChatCompletionMessageToolCall(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChatCompletionMessageToolCall, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('id')
    if v is None:
        v = _default_id
    else:
        if v.__class__ is not str: _bad_id('ChatCompletionMessageToolCall.id', 'str', v)
    self.id = v
    v = o.get('function')
    if v is None:
        v = _factory_function()
    else:
        v = _s_function(v, None)
    self.function = v
    v = o.get('type')
    if v is None:
        v = _default_type
    else:
        if v.__class__ is not str: _bad_type('ChatCompletionMessageToolCall.type', 'str', v)
    self.type = v
    self._raw = o
    return self


def structure_Choice(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for Choice, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('index')
    if v is None:
        v = _default_index
    else:
        if v.__class__ is not int: v = _int(v, None)
    self.index = v
    v = o.get('message')
    if v is None:
        v = _factory_message()
    else:
        v = _s_message(v, None)
    self.message = v
    v = o.get('finish_reason')
    if v is not None:
        if v.__class__ is not str: _bad_finish_reason('Choice.finish_reason', 'str', v)
    self.finish_reason = v
    v = o.get('native_finish_reason')
    if v is not None:
        if v.__class__ is not str: _bad_native_finish_reason('Choice.native_finish_reason', 'str', v)
    self.native_finish_reason = v
    v = o.get('logprobs')
    if v is not None:
        pass
    self.logprobs = v
    self._raw = o
    return self


def structure_CompletionTokensDetails(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for CompletionTokensDetails, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('reasoning_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.reasoning_tokens = v
    v = o.get('audio_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.audio_tokens = v
    v = o.get('accepted_prediction_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.accepted_prediction_tokens = v
    v = o.get('rejected_prediction_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.rejected_prediction_tokens = v
    self._raw = o
    return self


def structure_Function(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for Function, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('name')
    if v is None:
        v = _default_name
    else:
        if v.__class__ is not str: _bad_name('Function.name', 'str', v)
    self.name = v
    v = o.get('arguments')
    if v is None:
        v = _default_arguments
    else:
        if v.__class__ is not str: _bad_arguments('Function.arguments', 'str', v)
    self.arguments = v
    self._raw = o
    return self


def structure_PromptTokensDetails(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for PromptTokensDetails, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('cached_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.cached_tokens = v
    v = o.get('audio_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.audio_tokens = v
    self._raw = o
    return self


def structure_Usage(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for Usage, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('prompt_tokens')
    if v is None:
        v = _default_prompt_tokens
    else:
        if v.__class__ is not int: v = _int(v, None)
    self.prompt_tokens = v
    v = o.get('completion_tokens')
    if v is None:
        v = _default_completion_tokens
    else:
        if v.__class__ is not int: v = _int(v, None)
    self.completion_tokens = v
    v = o.get('total_tokens')
    if v is None:
        v = _default_total_tokens
    else:
        if v.__class__ is not int: v = _int(v, None)
    self.total_tokens = v
    v = o.get('prompt_tokens_details')
    if v is not None:
        v = _s_prompt_tokens_details(v, None)
    self.prompt_tokens_details = v
    v = o.get('completion_tokens_details')
    if v is not None:
        v = _s_completion_tokens_details(v, None)
    self.completion_tokens_details = v
    self._raw = o
    return self
