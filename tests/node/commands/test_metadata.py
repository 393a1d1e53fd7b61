"""METADATA (draft/metadata-2): keys on users and channels, subscriptions, network-wide."""

from __future__ import annotations

from tests.corekit import CoreNetwork, CoreServer

CAPS = "draft/metadata-2 batch"


def batch_of(lines: list[str]) -> list[str]:
    """The lines inside a ``metadata`` batch, without their batch tag."""
    assert lines[0].startswith(":test BATCH +") and lines[0].endswith(" metadata"), lines
    ref = lines[0].split()[2][1:]
    assert lines[-1] == f":test BATCH -{ref}"
    return [line.removeprefix(f"@batch={ref} ") for line in lines[1:-1]]


def test_the_cap_advertises_its_limits(server: CoreServer) -> None:
    (ls,) = server.connection().ask("CAP LS 302")
    assert " draft/metadata-2=maxsub=50,maxkey=20 " in ls


def test_set_get_list_clear_on_yourself(server: CoreServer) -> None:
    foo = server.user("foo", CAPS)
    assert batch_of(foo.ask("METADATA * GET valid_key1 valid_key2")) == [
        ":test 766 foo foo valid_key1 :no matching key",
        ":test 766 foo foo valid_key2 :no matching key",
    ]
    assert batch_of(foo.ask("METADATA * LIST")) == []
    heart = "->\U0001f49c<-"
    assert foo.ask(f"METADATA * SET valid_key1 :{heart}") == [
        f":test 761 foo foo valid_key1 * {heart}"
    ]
    assert foo.ask("METADATA foo SET url :https://example.org/") == [
        ":test 761 foo foo url * https://example.org/"
    ]
    assert batch_of(foo.ask("METADATA foo GET valid_key1 bad$key")) == [
        f":test 761 foo foo valid_key1 * {heart}",
        ":test FAIL METADATA INVALID_KEY bad$key :invalid key",
    ]
    assert batch_of(foo.ask("METADATA * LIST")) == [
        ":test 761 foo foo url * https://example.org/",
        f":test 761 foo foo valid_key1 * {heart}",
    ]
    assert foo.ask("METADATA * SET url") == [":test 761 foo foo url *"]
    assert foo.ask("METADATA * SET url") == [":test 768 foo foo url :key not set"]
    assert batch_of(foo.ask("METADATA * CLEAR")) == [":test 761 foo foo valid_key1 *"]


def test_bad_requests_change_nothing(server: CoreServer) -> None:
    foo, bar = server.user("foo", CAPS), server.user("bar", CAPS)
    assert foo.ask("METADATA foobar LIST") == [
        ":test FAIL METADATA INVALID_TARGET foobar :invalid metadata target"
    ]
    assert foo.ask("METADATA bar SET url :mine now") == [
        ":test FAIL METADATA KEY_NO_PERMISSION bar url :permission denied"
    ]
    assert foo.ask("METADATA * SET $url :x") == [
        ":test FAIL METADATA INVALID_KEY $url :invalid key"
    ]
    assert foo.ask("METADATA * SET key :" + "abcd" * 120) == [
        ":test FAIL METADATA INVALID_VALUE key :value is too long"
    ]
    assert foo.ask("METADATA * DESTROY") == [
        ":test FAIL METADATA INVALID_SUBCOMMAND DESTROY :invalid subcommand"
    ]
    assert foo.ask("METADATA *") == [":test 461 foo METADATA :Not enough parameters"]
    for n in range(20):
        foo.send(f"METADATA * SET key{n} :v")
    foo.lines()
    server.tick(10)
    assert foo.ask("METADATA * SET one-too-many :v") == [
        ":test FAIL METADATA LIMIT_REACHED foo :metadata limit reached"
    ]
    assert batch_of(bar.ask("METADATA foo GET key3")) == [":test 761 bar foo key3 * v"]


def test_subscriptions_and_notifications(server: CoreServer) -> None:
    foo, bar, plain = server.user("foo", CAPS), server.user("bar", CAPS), server.user("plain")
    assert bar.ask("METADATA * SUB avatar website bad$ avatar") == [
        ":test FAIL METADATA INVALID_KEY bad$ :invalid key",
        ":test 770 bar :avatar website",
    ]
    assert bar.ask("METADATA * SUBS") == [":test 772 bar :avatar website"]
    for user in (foo, bar, plain):
        user.send("JOIN #room")
    for user in (foo, bar, plain):
        user.lines()
    foo.ask("METADATA * SET avatar :https://example.org/foo.png")
    assert bar.lines() == [":foo!~foo@127.0.0.1 METADATA foo avatar * https://example.org/foo.png"]
    foo.ask("METADATA * SET status :busy")  # not subscribed: bar is not told
    assert bar.lines() == []
    foo.ask("METADATA #room SET website :https://example.org")
    assert bar.lines() == [":foo!~foo@127.0.0.1 METADATA #room website * https://example.org"]
    assert plain.lines() == []
    assert bar.ask("METADATA * UNSUB website") == [":test 771 bar website"]
    # A channel operator sets the channel's keys; members may not.
    assert bar.ask("METADATA #room SET website :x") == [
        ":test FAIL METADATA KEY_NO_PERMISSION #room website :permission denied"
    ]
    # Joining tells the joiner what it follows.
    carol = server.user("carol", CAPS)
    carol.send("METADATA * SUB avatar")
    carol.lines()
    lines = carol.ask("JOIN #room")
    assert batch_of(lines[lines.index(":test 366 carol #room :End of /NAMES list") + 1 :]) == [
        ":test METADATA foo avatar * https://example.org/foo.png"
    ]
    assert batch_of(carol.ask("METADATA #room SYNC")) == [
        ":test METADATA foo avatar * https://example.org/foo.png"
    ]


def test_too_many_subscriptions(server: CoreServer) -> None:
    foo = server.user("foo", CAPS)
    foo.send("METADATA * SUB " + " ".join(f"k{n}" for n in range(10)))
    foo.lines()
    for start in range(10, 50, 10):
        foo.send("METADATA * SUB " + " ".join(f"k{n}" for n in range(start, start + 10)))
    foo.lines()
    assert foo.ask("METADATA * SUB k1 extra k2") == [
        ":test FAIL METADATA TOO_MANY_SUBS extra :too many subscriptions",
        ":test 770 foo k1",
    ]


def test_metadata_is_network_wide() -> None:
    net = CoreNetwork("east", "hub", "west")
    net.link("east", "hub")
    net.link("hub", "west")
    foo = net.user("east", "foo", CAPS)
    bar = net.user("west", "bar", CAPS)
    net.say(bar, "METADATA * SUB avatar")
    for user in (foo, bar):
        net.say(user, "JOIN #room")
        user.lines()
    net.say(foo, "METADATA * SET avatar :a.png")
    assert bar.lines() == [":foo!~foo@127.0.0.1 METADATA foo avatar * a.png"]
    assert batch_of_at(bar.ask("METADATA foo GET avatar"), "west") == [
        ":west 761 bar foo avatar * a.png"
    ]
    # A server that links later learns it from the burst.
    net.cut("hub", "west")
    net.link("hub", "west")
    assert net.cores["west"].nicks["foo"].metadata == {"avatar": "a.png"}


def batch_of_at(lines: list[str], name: str) -> list[str]:
    ref = lines[0].split()[2][1:]
    assert lines[-1] == f":{name} BATCH -{ref}"
    return [line.removeprefix(f"@batch={ref} ") for line in lines[1:-1]]
