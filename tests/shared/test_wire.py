"""rin.redis_wire, the pipelined connection the request-path scripts use, against a real
redis-server of this test's own (it may be frozen, killed, flushed and given a password here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rin.redis_wire import Lua, RedisReplyError, Wire, encode, parse
from tests.cache.support import RedisServer
from tests.shared.support import private_server

pytestmark = pytest.mark.services

#: echoes its arguments back, with one key's counter: replies prove which call they answer
ECHO = Lua("return {redis.call('INCR', KEYS[1]), ARGV[1], {ARGV[2]}, false}")
FAILS = Lua("return redis.error_reply('ERR no such thing, caller ' .. ARGV[1])")


@pytest.fixture
def server() -> Iterator[RedisServer]:
    yield from private_server()


def test_every_caller_gets_its_own_reply_when_many_share_the_connection(server: RedisServer) -> None:
    async def run() -> None:
        wire = Wire("127.0.0.1", server.port)

        async def one(i: int) -> None:
            if i % 3 == 0:  # some callers send several scripts in one write
                replies = await wire.run_many([(ECHO, ["n"], [f"a{i}", f"b{i}"]), (ECHO, ["n"], [f"c{i}", "d"])])
                assert [r[1:] for r in replies] == [[f"a{i}".encode(), [f"b{i}".encode()], None],
                                                   [f"c{i}".encode(), [b"d"], None]]
            else:
                reply = await wire.run(ECHO, ["n"], [f"x{i}", i])
                assert reply[1:] == [f"x{i}".encode(), [str(i).encode()], None]

        await asyncio.gather(*(one(i) for i in range(300)))
        assert await wire.execute("GET", "n") == b"400"  # 200 single calls + 100 pairs, each run once
        wire.close()

    asyncio.run(run())


def test_a_script_redis_does_not_know_is_sent_with_its_source_then_by_sha(server: RedisServer) -> None:
    async def run() -> None:
        wire = Wire("127.0.0.1", server.port)
        assert await wire.execute("SCRIPT", "EXISTS", ECHO.sha) == [0]
        assert (await wire.run(ECHO, ["k"], ["a", "b"]))[0] == 1
        assert await wire.execute("SCRIPT", "EXISTS", ECHO.sha) == [1]  # EVAL cached it
        await wire.execute("SCRIPT", "FLUSH")  # as after a Redis restart
        replies = await wire.run_many([(ECHO, ["k"], ["a", "b"]), (ECHO, ["k"], ["c", "d"])])
        assert [r[0] for r in replies] == [2, 3]  # both ran, once each
        wire.close()

    asyncio.run(run())


def test_an_error_reply_raises_with_redis_message_and_the_connection_stays_usable(server: RedisServer) -> None:
    async def run() -> None:
        wire = Wire("127.0.0.1", server.port)
        with pytest.raises(RedisReplyError, match="no such thing, caller 7"):
            await wire.run(FAILS, [], ["7"])
        with pytest.raises(RedisReplyError, match="unknown command"):
            await wire.execute("NOT-A-COMMAND")
        assert (await wire.run(ECHO, ["k"], ["still", "here"]))[1] == b"still"
        wire.close()

    asyncio.run(run())


def test_a_caller_that_gives_up_on_a_frozen_redis_leaves_later_replies_matched(server: RedisServer) -> None:
    async def run() -> None:
        wire = Wire("127.0.0.1", server.port)
        await wire.run(ECHO, ["k"], ["warm", "up"])
        server.freeze()
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await wire.run(ECHO, ["k"], ["abandoned", "x"])
        finally:
            server.thaw()
        async with asyncio.timeout(5):
            reply = await wire.run(ECHO, ["k"], ["mine", "y"])
        assert reply == [3, b"mine", [b"y"], None]  # the abandoned call ran (2) and its reply was dropped
        wire.close()

    asyncio.run(run())


def test_a_lost_connection_fails_the_waiting_calls_and_the_next_call_connects_again(server: RedisServer) -> None:
    async def run() -> None:
        wire = Wire("127.0.0.1", server.port)
        await wire.run(ECHO, ["k"], ["a", "b"])
        waiting = asyncio.ensure_future(wire.execute("BLPOP", "never-filled", 0))  # waits for ever
        await asyncio.sleep(0)  # the task runs up to its wait: the command is on the socket
        assert not waiting.done()
        server.kill()
        with pytest.raises(ConnectionError):
            async with asyncio.timeout(5):
                await waiting
        with pytest.raises(OSError):  # nothing listens: connecting fails, within the connect timeout
            async with asyncio.timeout(5):
                await wire.run(ECHO, ["k"], ["e", "f"])
        server.start()  # empty, on the same port
        async with asyncio.timeout(5):
            assert await wire.run(ECHO, ["k"], ["g", "h"]) == [1, b"g", [b"h"], None]
        wire.close()

    asyncio.run(run())


def test_auth_and_select_at_connect_and_a_wrong_password_never_echoed() -> None:
    server = RedisServer("--requirepass", "pw-canary-81f3")
    server.start()
    try:
        async def run() -> None:
            wire = Wire("127.0.0.1", server.port, password="pw-canary-81f3", db=3)
            await wire.run(ECHO, ["in-db-3"], ["a", "b"])
            assert server.client(password="pw-canary-81f3", db=3).get("in-db-3") == b"1"
            assert server.client(password="pw-canary-81f3", db=0).get("in-db-3") is None
            wire.close()

            wrong = Wire("127.0.0.1", server.port, password="not-it-canary-55")
            with pytest.raises(RedisReplyError) as err:
                await wrong.run(ECHO, ["k"], ["a", "b"])
            assert "WRONGPASS" in str(err.value) and "canary" not in str(err.value)
            nopass = Wire("127.0.0.1", server.port)
            with pytest.raises(RedisReplyError, match="NOAUTH"):
                await nopass.run(ECHO, ["k"], ["a", "b"])
            nopass.close()

        asyncio.run(run())
    finally:
        server.kill()


def test_replies_split_anywhere_are_parsed_only_when_complete() -> None:
    reply = b"*4\r\n:42\r\n$5\r\nhe\r\nl\r\n*2\r\n$-1\r\n+OK\r\n-ERR bad\r\n"
    for cut in range(len(reply)):
        value, pos = parse(reply[:cut], 0)
        assert pos == 0, cut  # incomplete: nothing consumed
    value, pos = parse(reply, 0)
    assert pos == len(reply)
    assert value[:3] == [42, b"he\r\nl", [None, b"OK"]]
    assert isinstance(value[3], RedisReplyError) and str(value[3]) == "ERR bad"
    assert encode(["EVALSHA", b"ab", 2, "k\u00e9"]) == b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n$3\r\nk\xc3\xa9\r\n"
    with pytest.raises(TypeError, match="bytes, str or int"):
        encode(["SET", "k", 1.5])
