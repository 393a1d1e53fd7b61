// Drives irc-framework (the IRC library of Kiwi IRC and The Lounge) against a
// chatnet node: `node driver.mjs SCENARIO PORT`. Each scenario connects real
// irc-framework clients over TCP to 127.0.0.1:PORT, plays its part and prints
// what irc-framework parsed as JSON lines on stdout ({"event": ..., ...});
// tests/clients/test_ircframework.py asserts on them. Every raw line each
// client sends or receives goes to stderr, for the test's failure messages.
// Every wait is bounded: a scenario that stalls prints {"event": "error"}
// and exits 1.

import IRC from 'irc-framework';

const [scenarioName, portText] = process.argv.slice(2);
const PORT = Number(portText);
const HOST = '127.0.0.1';
const WAIT_MS = 8000;

/** One JSON line on stdout. */
function emit(event, fields = {}) {
    process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

/** The next `name` event of `client` for which `pred` holds, within WAIT_MS. */
function waitFor(client, name, pred = () => true) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            client.removeListener(name, listener);
            reject(new Error(`${client.options.nick}: no '${name}' event within ${WAIT_MS} ms`));
        }, WAIT_MS);
        function listener(event) {
            if (pred(event)) {
                clearTimeout(timer);
                client.removeListener(name, listener);
                resolve(event);
            }
        }
        client.on(name, listener);
    });
}

/** The next command irc-framework has no handler for (MARKREAD, FAIL...), named `command`. */
function waitUnknown(client, command) {
    return waitFor(client, 'unknown command', (c) => c.command === command);
}

/** A command as irc-framework parsed it, for JSON. */
function parsed(command) {
    return { command: command.command, nick: command.nick, params: command.params, tags: command.tags };
}

/**
 * A registered irc-framework client, once its welcome (ISUPPORT, MOTD) is in.
 * `caps`: capabilities to request besides irc-framework's own set.
 */
async function connect(
    nick,
    { caps = [], echo = false, realname = `irc-framework ${nick}`, account = undefined, onClient = () => {} } = {},
) {
    const client = new IRC.Client();
    if (caps.length) {
        client.requestCap(caps);
    }
    client.on('raw', ({ line, from_server }) => {
        process.stderr.write(`${nick} ${from_server ? '<' : '>'} ${line.trimEnd()}\n`);
    });
    onClient(client);
    const welcomed = waitFor(client, 'motd');
    client.connect({
        host: HOST,
        port: PORT,
        nick,
        username: nick,
        gecos: realname,
        auto_reconnect: false,
        enable_echomessage: echo,
        account,
    });
    await welcomed;
    return client;
}

/** Join `channel` and wait for irc-framework's member list of it (the end of NAMES). */
async function join(client, channel) {
    const names = waitFor(client, 'userlist', (e) => e.channel === channel);
    client.join(channel);
    return names;
}

/** QUIT and wait until the connection is closed. */
async function quit(client, message = 'bye') {
    const closed = waitFor(client, 'close');
    client.quit(message);
    await closed;
}

/** The client's own WHO through irc-framework's `who()` (WHOX when ISUPPORT says WHOX). */
function who(client, target) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no WHO ${target} answer`)), WAIT_MS);
        client.who(target, (result) => {
            clearTimeout(timer);
            resolve(result);
        });
    });
}

/** A line with tags, as irc-framework writes it. */
function tagged(tags, command, ...params) {
    const message = new IRC.Message(command, ...params);
    Object.assign(message.tags, tags);
    return message;
}

/** The account tests/clients/test_ircframework.py registers before the `sasl` scenario. */
const SASL_ACCOUNT = 'ifsasl';
const SASL_PASSWORD = 'if-sasl-secret-pw';
const WRONG_PASSWORD = 'if-wrong-secret-pw';

const scenarios = {
    /**
     * SASL PLAIN through irc-framework's `account` option: logged in before
     * registration ends, seen by another irc-framework client in extended-join,
     * account-tag and account-notify; a wrong password is irc-framework's
     * 'sasl failed'.
     */
    async sasl() {
        const watcher = await connect('ifwatch');
        emit('caps', { enabled: watcher.network.cap.enabled, sasl: watcher.network.cap.available.get('sasl') });
        await join(watcher, '#sasl');

        // Each client's SASL outcome and its welcome's end, in the order they came.
        const record = (events) => (client) => {
            client.on('loggedin', (e) => events.push({ loggedin: e.account, nick: e.nick, motd: false }));
            client.on('sasl failed', (e) => events.push({ failed: e.reason, message: e.message, nick: e.nick }));
            client.once('motd', () => events.push({ motd: true }));
        };
        const saslEvents = [];
        const wrongEvents = [];
        const joined = waitFor(watcher, 'join', (e) => e.nick === SASL_ACCOUNT);
        const user = await connect(SASL_ACCOUNT, {
            account: { account: SASL_ACCOUNT, password: SASL_PASSWORD },
            onClient: record(saslEvents),
        });
        emit('sasl', { events: [...saslEvents] });
        user.join('#sasl');
        const joinEvent = await joined;
        emit('join', { nick: joinEvent.nick, account: joinEvent.account, gecos: joinEvent.gecos });

        const heard = waitFor(watcher, 'privmsg', (e) => e.nick === SASL_ACCOUNT);
        user.say('#sasl', 'hello with an account');
        const message = await heard;
        emit('privmsg', { message: message.message, account: message.account ?? null });

        let notified = waitFor(watcher, 'account', (e) => e.nick === SASL_ACCOUNT);
        user.say('NickServ', 'LOGOUT');
        emit('account', { why: 'logout', account: (await notified).account });
        notified = waitFor(watcher, 'account', (e) => e.nick === SASL_ACCOUNT);
        user.say('NickServ', `IDENTIFY ${SASL_PASSWORD}`);
        emit('account', { why: 'identify', account: (await notified).account });

        const wrong = await connect('ifwrong', {
            account: { account: SASL_ACCOUNT, password: WRONG_PASSWORD },
            onClient: record(wrongEvents),
        });
        emit('sasl', { events: wrongEvents });
        await Promise.all([quit(user), quit(wrong), quit(watcher)]);
    },

    /** MONITOR: a watched nick is offline, comes online, goes away (extended-monitor), quits. */
    async monitor() {
        const watcher = await connect('ifwatcher', { caps: ['extended-monitor'] });
        emit('isupport', { MONITOR: watcher.network.supports('MONITOR') });
        emit('caps', { enabled: watcher.network.cap.enabled });

        let offline = waitFor(watcher, 'users offline');
        watcher.addMonitor('ifwatched');
        emit('users offline', { nicks: (await offline).nicks });

        const list = await new Promise((resolve) => watcher.monitorlist(resolve));
        emit('monitorList', { nicks: list.nicks });

        const online = waitFor(watcher, 'users online');
        const watched = await connect('ifwatched');
        emit('users online', { nicks: (await online).nicks });

        const away = waitFor(watcher, 'away', (e) => e.nick === 'ifwatched');
        watched.raw('AWAY', 'gone fishing');
        const awayEvent = await away;
        emit('away', { nick: awayEvent.nick, message: awayEvent.message, self: awayEvent.self });

        offline = waitFor(watcher, 'users offline');
        await quit(watched);
        emit('users offline', { nicks: (await offline).nicks });
        await quit(watcher);
    },

    /** WHOX: irc-framework's who() on a channel of three, one away and a bot. */
    async whox() {
        const alice = await connect('ifalice');
        const bob = await connect('ifbob');
        const carol = await connect('ifcarol');
        emit('isupport', {
            WHOX: alice.network.supports('WHOX'),
            BOT: alice.network.supports('BOT'),
        });
        await join(alice, '#whox');
        await join(bob, '#whox');
        await join(carol, '#whox');
        const away = waitFor(bob, 'away', (e) => e.self);
        bob.raw('AWAY', 'out to lunch');
        await away;
        const botMode = waitFor(carol, 'mode', (e) => e.target === 'ifcarol');
        carol.raw('MODE', 'ifcarol', '+B');
        await botMode;

        const sent = [];
        alice.on('raw', ({ line, from_server }) => {
            if (!from_server && line.startsWith('WHO ')) sent.push(line);
        });
        const channel = await who(alice, '#whox');
        emit('who', { target: channel.target, users: channel.users, sent: [...sent] });
        const single = await who(alice, 'ifbob');
        emit('who', { target: single.target, users: single.users, sent: [...sent] });
        await Promise.all([quit(alice), quit(bob), quit(carol)]);
    },

    /** draft/multiline: a batch sent raw through irc-framework, as irc-framework receives it. */
    async multiline() {
        const sender = await connect('ifsender', { caps: ['draft/multiline'], echo: true });
        const receiver = await connect('ifreceiver', { caps: ['draft/multiline'] });
        emit('caps', {
            value: receiver.network.cap.available.get('draft/multiline'),
            enabled: receiver.network.cap.enabled,
        });
        await join(sender, '#multiline');
        await join(receiver, '#multiline');

        const messages = [];
        receiver.on('privmsg', (e) => messages.push({ message: e.message, nick: e.nick, batch: e.batch }));
        const received = waitFor(receiver, 'batch end draft/multiline');
        const echoed = waitFor(sender, 'batch end draft/multiline');
        sender.raw('BATCH', '+ml1', 'draft/multiline', '#multiline');
        sender.raw(tagged({ batch: 'ml1' }, 'PRIVMSG', '#multiline', 'first line'));
        sender.raw(tagged({ batch: 'ml1' }, 'PRIVMSG', '#multiline', 'second line, '));
        sender.raw(tagged({ batch: 'ml1', 'draft/multiline-concat': true }, 'PRIVMSG', '#multiline', 'continued'));
        // irc-framework's Message drops an empty last parameter: the blank line goes as text.
        sender.raw('@batch=ml1 PRIVMSG #multiline :');
        sender.raw(tagged({ batch: 'ml1' }, 'PRIVMSG', '#multiline', 'after a blank line'));
        sender.raw('BATCH', '-ml1');
        for (const [name, batch] of [['receiver', await received], ['sender', await echoed]]) {
            emit('batch', {
                client: name,
                type: batch.type,
                params: batch.params,
                lines: batch.commands.map(parsed),
            });
        }
        emit('privmsgs', { messages });

        // One line too many: the server refuses the whole batch with FAIL BATCH.
        const failed = waitUnknown(sender, 'FAIL');
        sender.raw('BATCH', '+ml2', 'draft/multiline', '#multiline');
        for (let i = 0; i < 33; i++) {
            sender.raw(tagged({ batch: 'ml2' }, 'PRIVMSG', '#multiline', `line ${i}`));
        }
        sender.raw('BATCH', '-ml2');
        emit('fail', parsed(await failed));
        await Promise.all([quit(sender), quit(receiver)]);
    },

    /** draft/read-marker: MARKREAD on join, moved forward, kept for the next connection. */
    async readmarker() {
        const poster = await connect('ifposter');
        await join(poster, '#readmarker');
        let reader = await connect('ifreader', { caps: ['draft/read-marker'] });
        emit('caps', { enabled: reader.network.cap.enabled });

        // The marker arrives after JOIN and before the end of NAMES.
        const order = [];
        const onMarker = (c) => c.command === 'MARKREAD' && order.push(parsed(c));
        reader.on('unknown command', onMarker);
        reader.on('userlist', (e) => order.push({ userlist: e.channel }));
        await join(reader, '#readmarker');
        reader.removeListener('unknown command', onMarker);
        emit('join order', { order });

        const heard = waitFor(reader, 'privmsg', (e) => e.nick === 'ifposter');
        poster.say('#readmarker', 'read me');
        const message = await heard;
        emit('privmsg', { message: message.message, time: message.tags.time });

        let answer = waitUnknown(reader, 'MARKREAD');
        reader.raw('MARKREAD', '#readmarker', `timestamp=${message.tags.time}`);
        emit('markread', { why: 'moved', ...parsed(await answer) });

        answer = waitUnknown(reader, 'MARKREAD');
        reader.raw('MARKREAD', '#readmarker', 'timestamp=2001-01-01T00:00:00.000Z');
        emit('markread', { why: 'backwards', ...parsed(await answer) });

        await quit(reader);
        reader = await connect('ifreader', { caps: ['draft/read-marker'] });
        answer = waitUnknown(reader, 'MARKREAD');
        reader.raw('MARKREAD', '#readmarker');
        emit('markread', { why: 'reconnected', ...parsed(await answer) });
        await Promise.all([quit(reader), quit(poster)]);
    },
};

const scenario = scenarios[scenarioName];
if (!scenario || !PORT) {
    process.stderr.write(`usage: node driver.mjs ${Object.keys(scenarios).join('|')} PORT\n`);
    process.exit(2);
}
const deadline = setTimeout(() => {
    emit('error', { message: `scenario ${scenarioName} still running after 30 s` });
    process.exit(1);
}, 30000);
try {
    await scenario();
    emit('done');
    clearTimeout(deadline);
    process.exit(0);
} catch (err) {
    emit('error', { message: String(err && err.stack ? err.stack : err) });
    process.exit(1);
}
