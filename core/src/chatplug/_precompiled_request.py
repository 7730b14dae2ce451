"""Precompiled structuring functions of the classes ``chatplug._request_types`` defines (generated: do not edit).

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
    'ChatCompletionRequest': 2306103591,
    'DeveloperMessage': 2861621661,
    'FunctionDefinition': 618543934,
    'ImageURL': 1443178707,
    'ImageURLPart': 2078527371,
    'ResponseFormat': 155514659,
    'StreamOptions': 3295884517,
    'SystemMessage': 1268781518,
    'TextPart': 1023320568,
    'Tool': 3512872631,
    'ToolMessage': 2146190423,
    'UserMessage': 312862893,
}


def structure_ChatCompletionRequest(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ChatCompletionRequest, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('model')
    if v is None:
        _bad('ChatCompletionRequest.model', 'a value', v)
    else:
        if v.__class__ is not str: _bad_model('ChatCompletionRequest.model', 'str', v)
    self.model = v
    v = o.get('messages')
    if v is None:
        _bad('ChatCompletionRequest.messages', 'a value', v)
    else:
        v = _h_messages(v, _t_messages)
    self.messages = v
    v = o.get('temperature')
    if v is not None:
        v = _h_temperature(v, _t_temperature)
    self.temperature = v
    v = o.get('top_p')
    if v is not None:
        v = _h_top_p(v, _t_top_p)
    self.top_p = v
    v = o.get('max_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.max_tokens = v
    v = o.get('max_completion_tokens')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.max_completion_tokens = v
    v = o.get('stop')
    if v is not None:
        v = _h_stop(v, _t_stop)
    self.stop = v
    v = o.get('n')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.n = v
    v = o.get('seed')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.seed = v
    v = o.get('user')
    if v is not None:
        if v.__class__ is not str: _bad_user('ChatCompletionRequest.user', 'str', v)
    self.user = v
    v = o.get('stream')
    if v is not None:
        if v.__class__ is not bool: _bad_stream('ChatCompletionRequest.stream', 'bool', v)
    self.stream = v
    v = o.get('stream_options')
    if v is not None:
        v = _s_stream_options(v, None)
    self.stream_options = v
    v = o.get('tools')
    if v is not None:
        if v.__class__ is not list: _bad_list('ChatCompletionRequest.tools', 'list', v)
        v = [_s_tools(v[0], None)] if len(v) == 1 else [_s_tools(item, None) for item in v]
    self.tools = v
    v = o.get('tool_choice')
    if v is not None:
        v = _h_tool_choice(v, _t_tool_choice)
    self.tool_choice = v
    v = o.get('parallel_tool_calls')
    if v is not None:
        if v.__class__ is not bool: _bad_parallel_tool_calls('ChatCompletionRequest.parallel_tool_calls', 'bool', v)
    self.parallel_tool_calls = v
    v = o.get('response_format')
    if v is not None:
        v = _s_response_format(v, None)
    self.response_format = v
    v = o.get('frequency_penalty')
    if v is not None:
        v = _h_frequency_penalty(v, _t_frequency_penalty)
    self.frequency_penalty = v
    v = o.get('presence_penalty')
    if v is not None:
        v = _h_presence_penalty(v, _t_presence_penalty)
    self.presence_penalty = v
    v = o.get('logprobs')
    if v is not None:
        if v.__class__ is not bool: _bad_logprobs('ChatCompletionRequest.logprobs', 'bool', v)
    self.logprobs = v
    v = o.get('top_logprobs')
    if v is not None:
        if v.__class__ is not int: v = _int(v, None)
    self.top_logprobs = v
    v = o.get('logit_bias')
    if v is not None:
        v = _h_logit_bias(v, _t_logit_bias)
    self.logit_bias = v
    self._raw = o
    return self


def structure_DeveloperMessage(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for DeveloperMessage, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('content')
    if v is None:
        _bad('DeveloperMessage.content', 'a value', v)
    else:
        v = _h_content(v, _t_content)
    self.content = v
    v = o.get('role')
    if v is None:
        v = _default_role
    else:
        if v.__class__ is not str: _bad_role('DeveloperMessage.role', 'str', v)
    self.role = v
    v = o.get('name')
    if v is not None:
        if v.__class__ is not str: _bad_name('DeveloperMessage.name', 'str', v)
    self.name = v
    self._raw = o
    return self


def structure_FunctionDefinition(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for FunctionDefinition, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('name')
    if v is None:
        _bad('FunctionDefinition.name', 'a value', v)
    else:
        if v.__class__ is not str: _bad_name('FunctionDefinition.name', 'str', v)
    self.name = v
    v = o.get('description')
    if v is not None:
        if v.__class__ is not str: _bad_description('FunctionDefinition.description', 'str', v)
    self.description = v
    v = o.get('parameters')
    if v is not None:
        v = _h_parameters(v, _t_parameters)
    self.parameters = v
    v = o.get('strict')
    if v is not None:
        if v.__class__ is not bool: _bad_strict('FunctionDefinition.strict', 'bool', v)
    self.strict = v
    self._raw = o
    return self


def structure_ImageURL(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ImageURL, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('url')
    if v is None:
        _bad('ImageURL.url', 'a value', v)
    else:
        if v.__class__ is not str: _bad_url('ImageURL.url', 'str', v)
    self.url = v
    v = o.get('detail')
    if v is not None:
        if v.__class__ is not str: _bad_detail('ImageURL.detail', 'str', v)
    self.detail = v
    self._raw = o
    return self


def structure_ImageURLPart(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ImageURLPart, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('image_url')
    if v is None:
        _bad('ImageURLPart.image_url', 'a value', v)
    else:
        v = _s_image_url(v, None)
    self.image_url = v
    v = o.get('type')
    if v is None:
        v = _default_type
    else:
        if v.__class__ is not str: _bad_type('ImageURLPart.type', 'str', v)
    self.type = v
    self._raw = o
    return self


def structure_ResponseFormat(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ResponseFormat, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('type')
    if v is None:
        _bad('ResponseFormat.type', 'a value', v)
    else:
        if v.__class__ is not str: _bad_type('ResponseFormat.type', 'str', v)
    self.type = v
    v = o.get('json_schema')
    if v is not None:
        v = _h_json_schema(v, _t_json_schema)
    self.json_schema = v
    self._raw = o
    return self


def structure_StreamOptions(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for StreamOptions, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('include_usage')
    if v is not None:
        if v.__class__ is not bool: _bad_include_usage('StreamOptions.include_usage', 'bool', v)
    self.include_usage = v
    self._raw = o
    return self


def structure_SystemMessage(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for SystemMessage, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('content')
    if v is None:
        _bad('SystemMessage.content', 'a value', v)
    else:
        v = _h_content(v, _t_content)
    self.content = v
    v = o.get('role')
    if v is None:
        v = _default_role
    else:
        if v.__class__ is not str: _bad_role('SystemMessage.role', 'str', v)
    self.role = v
    v = o.get('name')
    if v is not None:
        if v.__class__ is not str: _bad_name('SystemMessage.name', 'str', v)
    self.name = v
    self._raw = o
    return self


def structure_TextPart(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for TextPart, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('text')
    if v is None:
        _bad('TextPart.text', 'a value', v)
    else:
        if v.__class__ is not str: _bad_text('TextPart.text', 'str', v)
    self.text = v
    v = o.get('type')
    if v is None:
        v = _default_type
    else:
        if v.__class__ is not str: _bad_type('TextPart.type', 'str', v)
    self.type = v
    self._raw = o
    return self


def structure_Tool(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for Tool, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('type')
    if v is None:
        v = _default_type
    else:
        if v.__class__ is not str: _bad_type('Tool.type', 'str', v)
    self.type = v
    v = o.get('function')
    if v is not None:
        v = _s_function(v, None)
    self.function = v
    self._raw = o
    return self


def structure_ToolMessage(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for ToolMessage, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('content')
    if v is None:
        _bad('ToolMessage.content', 'a value', v)
    else:
        v = _h_content(v, _t_content)
    self.content = v
    v = o.get('tool_call_id')
    if v is None:
        _bad('ToolMessage.tool_call_id', 'a value', v)
    else:
        if v.__class__ is not str: _bad_tool_call_id('ToolMessage.tool_call_id', 'str', v)
    self.tool_call_id = v
    v = o.get('role')
    if v is None:
        v = _default_role
    else:
        if v.__class__ is not str: _bad_role('ToolMessage.role', 'str', v)
    self.role = v
    v = o.get('name')
    if v is not None:
        if v.__class__ is not str: _bad_name('ToolMessage.name', 'str', v)
    self.name = v
    self._raw = o
    return self


def structure_UserMessage(o, _=None):
    if o.__class__ is not dict:
        raise _WrongType('expected an object for UserMessage, got ' + type(o).__name__)
    self = _new(_cls)
    v = o.get('content')
    if v is None:
        _bad('UserMessage.content', 'a value', v)
    else:
        v = _h_content(v, _t_content)
    self.content = v
    v = o.get('role')
    if v is None:
        v = _default_role
    else:
        if v.__class__ is not str: _bad_role('UserMessage.role', 'str', v)
    self.role = v
    v = o.get('name')
    if v is not None:
        if v.__class__ is not str: _bad_name('UserMessage.name', 'str', v)
    self.name = v
    self._raw = o
    return self
