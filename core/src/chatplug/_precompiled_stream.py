"""Precompiled structuring functions of the classes ``chatplug._stream_types`` defines (generated: do not edit).

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
    'ChatCompletionChunk': 2396715929,
    'ChoiceDelta': 1495872348,
    'ChoiceDeltaToolCall': 831506400,
    'ChoiceDeltaToolCallFunction': 2440580648,
    'ChunkChoice': 4166564279,
}


def structure_ChatCompletionChunk(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChatCompletionChunk, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('id')
    if v is None:
        v = _default_id
    else:
        if v.__class__ is not str: _bad_id('ChatCompletionChunk.id', 'str', v)
    self.id = v
    v = o.get('object')
    if v is None:
        v = _default_object
    else:
        if v.__class__ is not str: _bad_object('ChatCompletionChunk.object', 'str', v)
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
        if v.__class__ is not str: _bad_model('ChatCompletionChunk.model', 'str', v)
    self.model = v
    v = o.get('choices')
    if v is None:
        v = _factory_choices()
    else:
        if v.__class__ is not list: _bad_list('ChatCompletionChunk.choices', 'list', v)
        v = [_s_choices(v[0], None)] if len(v) == 1 else [_s_choices(item, None) for item in v]
    self.choices = v
    v = o.get('usage')
    if v is not None:
        v = _s_usage(v, None)
    self.usage = v
    v = o.get('system_fingerprint')
    if v is not None:
        if v.__class__ is not str: _bad_system_fingerprint('ChatCompletionChunk.system_fingerprint', 'str', v)
    self.system_fingerprint = v
    v = o.get('service_tier')
    if v is not None:
        if v.__class__ is not str: _bad_service_tier('ChatCompletionChunk.service_tier', 'str', v)
    self.service_tier = v
    self._raw = o
    return self


def structure_ChoiceDelta(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChoiceDelta, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('role')
    if v is not None:
        if v.__class__ is not str: _bad_role('ChoiceDelta.role', 'str', v)
    self.role = v
    v = o.get('content')
    if v is not None:
        if v.__class__ is not str: _bad_content('ChoiceDelta.content', 'str', v)
    self.content = v
    v = o.get('reasoning_content')
    if v is not None:
        if v.__class__ is not str: _bad_reasoning_content('ChoiceDelta.reasoning_content', 'str', v)
    self.reasoning_content = v
    v = o.get('tool_calls')
    if v is not None:
        if v.__class__ is not list: _bad_list('ChoiceDelta.tool_calls', 'list', v)
        v = [_s_tool_calls(v[0], None)] if len(v) == 1 else [_s_tool_calls(item, None) for item in v]
    self.tool_calls = v
    v = o.get('refusal')
    if v is not None:
        if v.__class__ is not str: _bad_refusal('ChoiceDelta.refusal', 'str', v)
    self.refusal = v
    self._raw = o
    return self


def structure_ChoiceDeltaToolCall(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChoiceDeltaToolCall, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('index')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.index = v
    v = o.get('id')
    if v is not None:
        if v.__class__ is not str: _bad_id('ChoiceDeltaToolCall.id', 'str', v)
    self.id = v
    v = o.get('type')
    if v is not None:
        if v.__class__ is not str: _bad_type('ChoiceDeltaToolCall.type', 'str', v)
    self.type = v
    v = o.get('function')
    if v is not None:
        v = _s_function(v, None)
    self.function = v
    self._raw = o
    return self


def structure_ChoiceDeltaToolCallFunction(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChoiceDeltaToolCallFunction, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('name')
    if v is not None:
        if v.__class__ is not str: _bad_name('ChoiceDeltaToolCallFunction.name', 'str', v)
    self.name = v
    v = o.get('arguments')
    if v is not None:
        if v.__class__ is not str: _bad_arguments('ChoiceDeltaToolCallFunction.arguments', 'str', v)
    self.arguments = v
    self._raw = o
    return self


def structure_ChunkChoice(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChunkChoice, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('index')
    if v is None:
        v = _default_index
    else:
        if v.__class__ is not int: v = _int(v, None)
    self.index = v
    v = o.get('delta')
    if v is None:
        v = _factory_delta()
    else:
        v = _s_delta(v, None)
    self.delta = v
    v = o.get('finish_reason')
    if v is not None:
        if v.__class__ is not str: _bad_finish_reason('ChunkChoice.finish_reason', 'str', v)
    self.finish_reason = v
    v = o.get('native_finish_reason')
    if v is not None:
        if v.__class__ is not str: _bad_native_finish_reason('ChunkChoice.native_finish_reason', 'str', v)
    self.native_finish_reason = v
    v = o.get('logprobs')
    if v is not None:
        pass
    self.logprobs = v
    self._raw = o
    return self
