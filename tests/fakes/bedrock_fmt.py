"""AWS Bedrock's runtime wire format: Converse JSON, ConverseStream as AWS event-stream frames,
InvokeModel for Titan and Cohere embeddings, SigV4 checked on every request, errors as AWS sends them.

Shapes follow the bedrock-runtime API reference (Converse: output.message.content blocks text /
toolUse / reasoningContent, stopReason, usage inputTokens / outputTokens / totalTokens /
cacheReadInputTokens / cacheWriteInputTokens, metrics.latencyMs; ConverseStream events messageStart,
contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata, and exception events
such as modelStreamErrorException; each event's JSON carries a `p` padding field, as AWS pads them).
Errors are `{"message": ...}` with the type in `x-amzn-ErrorType`.

Signatures: the fake recomputes each request's SigV4 signature with botocore from the secret it
knows for the access key (`secret_for`; keys start AKIAFAKE, or ASIAFAKE for session credentials,
whose `x-amz-security-token` must be `session_token(key, expires)` and not past `expires`). Missing,
unknown, expired or wrong: 403 with AWS's type and message. Bedrock API keys (`Authorization:
Bearer`) are accepted when they are `API_KEY`.

Faults map to Bedrock's own: 401 -> 403 UnrecognizedClientException, 403 AccessDeniedException, 400
ValidationException, 429 ThrottlingException (no Retry-After: AWS sends none), 500
InternalServerException, 502 -> 424 ModelErrorException, 503 and 529 -> 503
ServiceUnavailableException; ctx-overflow a ValidationException "Input is too long for requested
model."; content-policy a 200 whose stopReason is guardrail_intervened; error-in-stream a
modelStreamErrorException event. "think" models answer with a reasoningContent block first when
additionalModelRequestFields.thinking is enabled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import time
import uuid

import orjson

from .answer import Answer, decide, fragments, new_id, pieces, tokens
from .faults import Fault
from .openai_fmt import embed
from .wire import GARBAGE, JSON, Reply, StreamPlan, dumps

EVENT_STREAM = "application/vnd.amazon.eventstream"
API_KEY = "bedrock-api-key-fake-1"
CORAL = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_SERVICE = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
                   r"/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<signature>[0-9a-f]{64})$")
_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method. Consult the service documentation for details.")
_STATUS_ERRORS = {  # fault status -> (HTTP status, error type, message)
    400: (400, "ValidationException", "The provided request is not valid"),
    401: (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    403: (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    429: (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    500: (500, "InternalServerException", "The server encountered an internal error while processing the request."),
    502: (424, "ModelErrorException", "The model returned an error. Try your request again."),
    503: (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    529: (503, "ServiceUnavailableException", "Too many connections, please wait before trying again."),
}
_GUARDRAIL_TEXT = "Sorry, the model cannot answer this question."
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"


def secret_for(access_key: str) -> str:
    """The secret access key the fake expects with `access_key`."""
    return hashlib.sha256(b"rin-fake-aws:" + access_key.encode()).hexdigest()[:40]


def session_token(access_key: str, expires: int) -> str:
    """The session token the fake expects with session credentials `access_key` valid until `expires`."""
    return f"FAKESESSION{expires}.{hashlib.sha256(f'{access_key}:{expires}'.encode()).hexdigest()[:32]}"


# AWS event-stream framing (botocore decodes it; nothing in botocore encodes it)

def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, CRC32), string headers
    (type 7), payload, CRC32 of all before it."""
    raw = b"".join(struct.pack(">B", len(name)) + name + b"\x07" + struct.pack(">H", len(value)) + value
                   for name, value in ((k.encode(), v.encode()) for k, v in headers.items()))
    prelude = struct.pack(">II", 12 + len(raw) + len(payload) + 4, len(raw))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + raw + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event(kind: str, obj: dict) -> bytes:
    payload = dumps({**obj, "p": _PAD[: 1 + len(kind) % 40]})
    return frame({":event-type": kind, ":content-type": JSON, ":message-type": "event"}, payload)


def exception(kind: str, obj: dict) -> bytes:
    return frame({":exception-type": kind, ":content-type": JSON, ":message-type": "exception"}, dumps(obj))


def _texts(blocks: object) -> str:
    if not isinstance(blocks, list):
        return ""
    return "".join(b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str))


def _is_tool_result(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and "toolResult" in b for b in content)


def prompt_chars(body: dict) -> int:
    chars = len(_texts(body.get("system")))
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            chars += len(_texts(message.get("content")))
    return chars


class BedrockFormat:
    """Renders answers and faults the way bedrock-runtime.<region>.amazonaws.com does."""

    name = "bedrock"
    stream_content_type = EVENT_STREAM

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4())}

    def envelope(self, status: int, type_: str, message: str, namespace: str = CORAL) -> Reply:
        reply = Reply(status, dumps({"message": message}), self.headers())
        reply.headers["x-amzn-ErrorType"] = f"{type_}:{namespace}"
        return reply

    # requests

    def verify(self, method: str, url: str, headers: object, body: bytes, service: str = "bedrock") -> Reply | None:
        """None when the request is signed with a key this fake knows (or carries API_KEY), else
        AWS's 403. Records nothing: the caller does."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import ReadOnlyCredentials

        auth = headers.get("Authorization")  # type: ignore[attr-defined]
        if not auth:
            return self.envelope(403, "MissingAuthenticationTokenException", "Missing Authentication Token", _SERVICE)
        if auth.startswith("Bearer "):
            if auth[len("Bearer "):] == API_KEY:
                return None
            return self.envelope(403, "UnrecognizedClientException", "Invalid API Key format: Must start with "
                                 "pre-defined prefix", _SERVICE)
        m = _AUTH.match(auth)
        date = headers.get("X-Amz-Date") or ""  # type: ignore[attr-defined]
        if m is None or not date.startswith(m["date"]) or m["service"] != service:
            return self.envelope(403, "IncompleteSignatureException", f"Authorization header requires existence of "
                                 f"either a 'X-Amz-Date' or a 'Date' header. Authorization={auth[:40]}", _SERVICE)
        key = m["key"]
        token = headers.get("X-Amz-Security-Token")  # type: ignore[attr-defined]
        if not key.startswith(("AKIAFAKE", "ASIAFAKE")) or (key.startswith("ASIA") and not token):
            return self.envelope(403, "UnrecognizedClientException",
                                 "The security token included in the request is invalid.", _SERVICE)
        if token is not None:
            expires = int(token[len("FAKESESSION"):].partition(".")[0] or 0) if token.startswith("FAKESESSION") else 0
            if token != session_token(key, expires):
                return self.envelope(403, "UnrecognizedClientException",
                                     "The security token included in the request is invalid.", _SERVICE)
            if expires < time.time():
                return self.envelope(403, "ExpiredTokenException",
                                     "The security token included in the request is expired", _SERVICE)
        signed = m["signed"].split(";")
        request = AWSRequest(method, url, data=body,
                             headers={name: headers.get(name, "") for name in signed})  # type: ignore[attr-defined]
        request.context["timestamp"] = date
        signer = SigV4Auth(ReadOnlyCredentials(key, secret_for(key), token), service, m["region"])
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if expected != m["signature"]:
            return self.envelope(403, "InvalidSignatureException", _BAD_SIGNATURE, _SERVICE)
        return None

    def auth_error(self, headers: object) -> Reply | None:
        return None  # verify() ran before the body was read as JSON: it needs the raw bytes

    def bad_request(self, message: str) -> Reply:
        return self.envelope(400, "ValidationException", message)

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        if body is None:
            return self.bad_request("Malformed input request, please reformat your input and try again.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.bad_request("The messages field is required.")
        uses_tools = False
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return self.bad_request(f"1 validation error detected: Value at 'messages.{i + 1}.member.role' failed "
                                        "to satisfy constraint: Member must satisfy enum value set: [user, assistant]")
            content = message.get("content")
            if not isinstance(content, list) or not content:
                return self.bad_request(f"The content field in the Message object at messages.{i} is empty. Add a "
                                        "ContentBlock object to the content field and try again.")
            for j, block in enumerate(content):
                if isinstance(block, dict) and "text" in block and not str(block["text"]).strip():
                    return self.bad_request(f"The text field in the ContentBlock object at messages.{i}.content.{j} "
                                            "is blank. Add text to the text field, and try again.")
                if isinstance(block, dict) and ("toolUse" in block or "toolResult" in block):
                    uses_tools = True
                if isinstance(block, dict) and "image" in block and not _valid_image(block["image"]):
                    return self.bad_request(f"messages.{i}.content.{j}.image: the image is not valid base64 "
                                            "png, jpeg, gif or webp bytes.")
        if messages[0].get("role") != "user":
            return self.bad_request("A conversation must start with a user message. Try again with a conversation "
                                    "that starts with a user message.")
        if uses_tools and not body.get("toolConfig"):
            return self.bad_request("The toolConfig field must be defined when using toolUse and toolResult content "
                                    "blocks.")
        return None

    def validate(self, headers: object, body: dict | None) -> Reply | None:
        """InvokeModel for an embedding model: Titan's inputText, or Cohere's texts and input_type."""
        if body is None:
            return self.bad_request("Malformed input request, please reformat your input and try again.")
        if "cohere.embed" in body["model"]:
            if not isinstance(body.get("texts"), list) or not body.get("input_type"):
                return self.bad_request("Malformed input request: #: required key [input_type] not found, please "
                                        "reformat your input and try again.")
        elif not isinstance(body.get("inputText"), str):
            return self.bad_request("Malformed input request: #: required key [inputText] not found, please "
                                    "reformat your input and try again.")
        return None

    def decide(self, body: dict) -> Answer:
        model = body["model"]
        messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
        last_user = next((_texts(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user" and not _is_tool_result(m)), "")
        tool = None
        last = messages[-1] if messages else {}
        specs = [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools") or ()
                 if isinstance(t, dict) and isinstance(t.get("toolSpec"), dict)]
        if specs and "tool" in model and last.get("role") == "user" and not _is_tool_result(last):
            tool = (specs[0]["name"], (specs[0].get("inputSchema") or {}).get("json") or {})
        config = body.get("inferenceConfig") or {}
        answer = decide(model, prompt_chars(body), last_user, tool, config.get("maxTokens"), tool_id_prefix="tooluse_")
        thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
        if "think" in model and thinking.get("type") == "enabled":
            answer.thinking = f"The user wrote {last_user[:40]!r}. I should answer briefly."
            answer.completion_tokens += tokens(len(answer.thinking))
        return answer

    # successful answers

    def usage(self, a: Answer) -> dict:
        usage = {"inputTokens": a.prompt_tokens - a.cached_tokens, "outputTokens": a.completion_tokens,
                 "totalTokens": a.prompt_tokens + a.completion_tokens}
        if a.cached_tokens:
            usage.update(cacheReadInputTokens=a.cached_tokens, cacheWriteInputTokens=0)
        return usage

    def stop_reason(self, a: Answer) -> str:
        return "tool_use" if a.tool else "max_tokens" if a.truncated else "end_turn"

    def completion(self, a: Answer, body: dict | None = None) -> Reply:
        blocks: list[dict] = []
        if a.thinking:
            blocks.append({"reasoningContent": {"reasoningText": {"text": a.thinking, "signature": _signature(a)}}})
        if a.tool:
            blocks.append({"toolUse": {"toolUseId": a.tool.id, "name": a.tool.name,
                                       "input": orjson.loads(a.tool.arguments)}})
        else:
            blocks.append({"text": a.text})
        obj = {"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": self.stop_reason(a),
               "usage": self.usage(a), "metrics": {"latencyMs": 42}}
        return Reply(200, dumps(obj), self.headers())

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        frames = [event("messageStart", {"role": "assistant"})]
        index = 0
        if a.thinking:
            for piece in pieces(a.thinking):
                frames.append(event("contentBlockDelta", {"contentBlockIndex": 0,
                                                          "delta": {"reasoningContent": {"text": piece}}}))
            frames.append(event("contentBlockDelta", {"contentBlockIndex": 0,
                                                      "delta": {"reasoningContent": {"signature": _signature(a)}}}))
            frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        cut = len(frames) + 2
        if a.tool:
            start = {"toolUse": {"toolUseId": a.tool.id, "name": a.tool.name}}
            frames.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            deltas = [{"toolUse": {"input": f}} for f in fragments(a.tool.arguments)]
        else:
            deltas = [{"text": p} for p in pieces(a.text)]
        frames += [event("contentBlockDelta", {"contentBlockIndex": index, "delta": d}) for d in deltas]
        frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
        frames.append(event("messageStop", {"stopReason": self.stop_reason(a)}))
        frames.append(event("metadata", {"usage": self.usage(a), "metrics": {"latencyMs": 42}}))
        return StreamPlan(frames, cut)

    def blocked(self, model: str, stream: bool) -> bytes:
        """What a guardrail's intervention looks like: its canned text, stopReason guardrail_intervened."""
        usage = {"inputTokens": 9, "outputTokens": 0, "totalTokens": 9}
        if stream:
            return b"".join([event("messageStart", {"role": "assistant"}),
                             event("messageStop", {"stopReason": "guardrail_intervened"}),
                             event("metadata", {"usage": usage, "metrics": {"latencyMs": 12}})])
        return dumps({"output": {"message": {"role": "assistant", "content": [{"text": _GUARDRAIL_TEXT}]}},
                      "stopReason": "guardrail_intervened", "usage": usage, "metrics": {"latencyMs": 12}})

    def embeddings(self, body: dict) -> Reply:
        model = body["model"]
        if "cohere.embed" in model:
            texts = [str(t) for t in body["texts"]]
            obj: dict = {"embeddings": [embed(t) for t in texts], "id": str(uuid.uuid4()),
                         "response_type": "embeddings_floats", "texts": texts}
        else:
            text = body["inputText"]
            obj = {"embedding": embed(text), "inputTextTokenCount": tokens(len(text))}
        return Reply(200, dumps(obj), self.headers())

    # faults

    def stream_error(self, a: Answer) -> bytes:
        return exception("modelStreamErrorException", {
            "message": "Model stream error: the model returned an error mid-stream.",
            "originalStatusCode": 500, "originalMessage": "Internal server error"})

    def error_in_body(self, model: str) -> Reply:
        return self.envelope(503, "ServiceUnavailableException", "Bedrock is unable to process your request.")

    def garbage_stream(self) -> bytes:
        return GARBAGE

    def error(self, fault: Fault, model: str) -> Reply:
        if fault.kind == "ctx-overflow":
            return self.bad_request("Input is too long for requested model.")
        if fault.kind == "content-policy":
            return Reply(200, self.blocked(model, stream=False), self.headers())
        status, type_, message = _STATUS_ERRORS.get(fault.status, _STATUS_ERRORS[500])
        namespace = _SERVICE if type_ == "UnrecognizedClientException" else CORAL
        return self.envelope(status, type_, message, namespace)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, dumps({"message": "Unknown operation"}),
                     {**self.headers(), "x-amzn-ErrorType": f"UnknownOperationException:{_SERVICE}"})


def _signature(a: Answer) -> str:
    return base64.b64encode(hashlib.blake2b(a.thinking.encode(), digest_size=24).digest()).decode()


def _valid_image(image: object) -> bool:
    if not isinstance(image, dict) or image.get("format") not in ("png", "jpeg", "gif", "webp"):
        return False
    source = image.get("source")
    data = source.get("bytes") if isinstance(source, dict) else None
    try:
        return isinstance(data, str) and bool(base64.b64decode(data, validate=True))
    except ValueError:
        return False


def assume_role_xml(key: str, expires: int) -> bytes:
    """STS AssumeRole's answer (query protocol, XML) handing out session credentials for `key`."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    return (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret_for(key)}</SecretAccessKey>"
        f"<SessionToken>{session_token(key, expires)}</SessionToken><Expiration>{stamp}</Expiration></Credentials>"
        "<AssumedRoleUser><AssumedRoleId>AROAFAKE:rin</AssumedRoleId>"
        "<Arn>arn:aws:sts::123456789012:assumed-role/rin-test/rin</Arn></AssumedRoleUser>"
        f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</AssumeRoleResponse>"
    ).encode()


def new_session_key() -> str:
    return "ASIAFAKE" + new_id("")[-12:].upper()
