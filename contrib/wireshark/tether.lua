-- tether.lua: Wireshark / tshark dissector for tether heartbeat frames.
--
-- tether (github.com/tether-ha/tether) sends authenticated heartbeat
-- frames as raw Ethernet frames (EtherType 0x88B5 by default) and over TCP
-- (port 7947 by default). This file dissects both; the byte layout is the
-- one of llt/codec.go ("Wire layout, version 2"), the numbers and names
-- those of llt/frame.go and llt/types.go.
--
-- Use:   tshark -X lua_script:/path/to/tether.lua -r hb.pcap
--   or:  copy it to ~/.local/lib/wireshark/plugins/ (see README.md).
--
-- Preferences (Edit > Preferences > Protocols > TETHER, or tshark -o):
--   tether.ethertype   EtherType of the ether channel, hex or decimal
--                      (default 0x88B5), e.g. -o tether.ethertype:0x88b6
--   tether.tcp_port    TCP port of the tcp channel (default 7947),
--                      e.g. -o tether.tcp_port:7948
--
-- Field names: a contract, the test (dissector_test.go) and users' display
-- filters rely on them. Do not rename; add.
--
--   tether                      the frame (protocol)
--   tether.magic                "TH"
--   tether.version              protocol version (2 is dissected)
--   tether.type                 1 heartbeat, 2 shutdown, 3 message, 4 claim
--   tether.flags                flags byte
--   tether.flags.probe          bit 0: MTU probe (padded to the network's MTU)
--   tether.flags.copy           bit 1: a copy of the previous frame (same sequence)
--   tether.flags.after_probe    bit 2: the previous frame was a padded probe
--   tether.flags.reserved       the other bits (0 on the wire)
--   tether.state                session state: 1 DOWN, 2 INIT, 3 UP
--   tether.diag                 diagnostic code (none, time-expired, ...)
--   tether.netlen               network name length
--   tether.cluster              cluster id
--   tether.src                  source node id
--   tether.dst                  destination node id (65535 = broadcast)
--   tether.dst.broadcast        generated: true when tether.dst is broadcast
--   tether.heartbeat            sender's heartbeat interval, µs
--   tether.peerinact            sender's peerinact, µs
--   tether.incarnation          sender incarnation (hex)
--   tether.seq                  sequence number
--   tether.timestamp            send timestamp, ns on the sender's clock
--   tether.echo.incarnation     echoed incarnation (hex; 0 = nothing heard)
--   tether.echo.seq             echoed sequence number
--   tether.echo.timestamp       echoed send timestamp, ns
--   tether.echo.hold            echo hold time, µs
--   tether.probe_ack            sequence of the newest MTU probe received
--   tether.vector_count         number of link vector entries
--   tether.payload_len          payload length
--   tether.pad_len              pad length
--   tether.network              sender's network name
--   tether.vector               one link vector entry (subtree)
--   tether.vector.netlen        its network name length
--   tether.vector.network       its network name
--   tether.vector.state         link state: 1 DOWN, 2 TROUBLE, 3 UP
--   tether.vector.reason        reason id (none, carrier-lost, peer-silent, ...)
--   tether.vector.flags         flags byte
--   tether.vector.flags.hears_you  bit 0: the sender hears the receiver here
--   tether.vector.flags.carrier    bit 1: the sender's NIC has carrier
--   tether.vector.flags.reserved   the other bits
--   tether.vector.loss          receiver's loss %, 255 = unknown
--   tether.payload              the payload (all of it)
--   tether.topic                message topic (first payload byte, type message)
--   tether.payload.data         the payload after the topic byte
--   tether.pad                  the pad bytes (zero)
--   tether.keyid                id of the signing key (hex)
--   tether.tag                  HMAC-SHA256/128 tag, not verified
--   tether.trailing             bytes after the pad that do not belong
--   tether.undecoded            bytes not dissected (bad magic, other version)
--
--   tether_tcp                  the tcp channel's framing (protocol)
--   tether_tcp.frame_len        32-bit length before each llt frame
--   tether_tcp.hs.len           16-bit length before each handshake message
--   tether_tcp.hs.magic         "THTC"
--   tether_tcp.hs.version       handshake version (2)
--   tether_tcp.hs.type          1 hello, 2 challenge, 3 auth, 4 result
--   tether_tcp.hs.cluster       cluster id (hello, result)
--   tether_tcp.hs.from          client node id (hello)
--   tether_tcp.hs.to            dialled node id (hello)
--   tether_tcp.hs.node          server node id (result)
--   tether_tcp.hs.keyid         key id (hello, hex)
--   tether_tcp.hs.nonce         nonce (hello, challenge)
--   tether_tcp.hs.netlen        network name length (hello, result)
--   tether_tcp.hs.network       network name (hello, result)
--   tether_tcp.hs.proof         server proof (challenge), not verified
--   tether_tcp.hs.mac           MAC (auth, result), not verified
--   tether_tcp.hs.code          result code: 0 accepted, else the refusal
--   tether_tcp.hs.data          bytes of a message not dissected
--   tether_tcp.data             stream bytes that are not a tether PDU
--
-- Expert infos (filter on them like fields):
--   tether.truncated            frame shorter than its header says
--   tether.malformed            a field out of range, bad padding, trailing bytes
--   tether.bad_magic            not a tether frame
--   tether.unsupported_version  a version other than 2: not dissected
--   tether.unknown_value        a number with no name here (newer tether?)
--   tether_tcp.not_pdu          stream bytes that are no tether PDU
--   tether_tcp.hs_malformed     a bad handshake message

----------------------------------------------------------------------
-- Tables. The numbers are part of tether's wire format; extend these
-- when tether grows (a missing number shows as "unknown (N)").
----------------------------------------------------------------------

-- llt/frame.go FrameType
local FRAME_TYPES = {
    [1] = "heartbeat",
    [2] = "shutdown",
    [3] = "message",
    [4] = "claim",
}

-- llt/types.go SessionState
local SESSION_STATES = {
    [1] = "DOWN",
    [2] = "INIT",
    [3] = "UP",
}

-- llt/types.go Diag
local DIAGS = {
    [0] = "none",
    [1] = "time-expired",
    [3] = "neighbor-down",
    [4] = "carrier-lost",
    [5] = "peer-restart",
    [6] = "peer-shutdown",
    [7] = "admin-down",
    [8] = "peer-carrier-lost",
}

-- llt/types.go LinkState
local LINK_STATES = {
    [1] = "DOWN",
    [2] = "TROUBLE",
    [3] = "UP",
}

-- llt/types.go Reason (reasonNames; 0 is "" in tether, "none" here)
local REASONS = {
    [0] = "none",
    [1] = "carrier-lost",
    [2] = "peer-silent",
    [3] = "one-way-out",
    [4] = "one-way-in",
    [5] = "cross-connected",
    [6] = "shared-segment",
    [7] = "mtu-mismatch",
    [8] = "tcp-blocked",
    [9] = "flapping",
    [10] = "lossy",
    [11] = "auth-failure",
    [12] = "duplicate-node-id",
    [13] = "foreign-cluster",
    [14] = "peer-stopped",
}

-- agent/messages.go topics: the first payload byte of a message frame.
-- Topics from FIRST_APP_TOPIC on belong to applications.
local TOPICS = {
    [0] = "echo request",
    [1] = "echo reply",
    [2] = "link table",
}
local FIRST_APP_TOPIC = 16

-- links/tcp/handshake.go message types and RESULT codes
local HS_TYPES = {
    [1] = "hello",
    [2] = "challenge",
    [3] = "auth",
    [4] = "result",
}
local HS_RESULT_CODES = {
    [0] = "accepted",
    [1] = "foreign-cluster",
    [2] = "wrong-node",
    [3] = "unknown-node",
    [4] = "wrong-address",
    [5] = "wrong-network",
    [6] = "unknown-key",
    [7] = "bad-proof",
    [8] = "busy",
    [9] = "malformed",
    [10] = "timeout",
}

-- Wire constants (llt/frame.go, llt/codec.go, links/tcp).
local VERSION = 2
local HEADER_LEN = 87
local TRAILER_LEN = 4 + 16 -- key id, tag
local MIN_FRAME_LEN = HEADER_LEN + 1 + TRAILER_LEN
local MAX_NAME_LEN = 32
local MAX_VECTOR = 8
local MAX_PAYLOAD = 60000
local MAX_PAD = 65000
local LOSS_UNKNOWN = 255
local BROADCAST = 0xFFFF
local MAX_TCP_FRAME = 1024 * 1024 -- sanity bound of a framed length (tether: 64096)
local HS_MAGIC = "THTC"
local HS_VERSION = 2
local MAX_HS_MSG = 512

local DEFAULT_ETHERTYPE = 0x88B5
local DEFAULT_TCP_PORT = 7947

----------------------------------------------------------------------
-- Helpers
----------------------------------------------------------------------

local function name_of(tbl, v)
    local s = tbl[v]
    if s then
        return s
    end
    return "unknown (" .. tostring(v) .. ")"
end

local function topic_name(v)
    if TOPICS[v] then
        return TOPICS[v]
    end
    if v >= FIRST_APP_TOPIC then
        return "application (" .. v .. ")"
    end
    return "unknown (" .. v .. ")"
end

-- bit reports whether the bit of value mask (a power of two) is set in v.
local function bit(v, mask)
    return math.floor(v / mask) % 2 == 1
end

local function micros(us)
    return string.format("%d µs (%.3f ms)", us, us / 1000)
end

local function nanos(u64)
    return string.format("%s ns (%.9f s)", tostring(u64), u64:tonumber() / 1e9)
end

local function valid_name(s)
    return #s >= 1 and #s <= MAX_NAME_LEN and s:find("^[A-Za-z0-9._-]+$") ~= nil
end

-- printable returns s with every byte outside printable ASCII as \xNN:
-- names go into labels and the Info column, which must stay valid UTF-8.
local function printable(s)
    return (s:gsub("[^\32-\126]", function(c)
        return string.format("\\x%02X", c:byte())
    end))
end

local function node_str(id)
    if id == BROADCAST then
        return "*"
    end
    return "node" .. id
end

----------------------------------------------------------------------
-- The frame protocol
----------------------------------------------------------------------

local tether = Proto("tether", "tether heartbeat protocol")

local pf = {
    magic = ProtoField.string("tether.magic", "Magic"),
    version = ProtoField.uint8("tether.version", "Version", base.DEC),
    type = ProtoField.uint8("tether.type", "Type", base.DEC, FRAME_TYPES),
    flags = ProtoField.uint8("tether.flags", "Flags", base.HEX),
    flag_probe = ProtoField.bool("tether.flags.probe", "MTU probe", 8, nil, 0x01),
    flag_copy = ProtoField.bool("tether.flags.copy", "Copy of the previous frame", 8, nil, 0x02),
    flag_after_probe = ProtoField.bool("tether.flags.after_probe", "Previous frame was a padded probe", 8, nil, 0x04),
    flag_reserved = ProtoField.uint8("tether.flags.reserved", "Reserved", base.HEX, nil, 0xF8),
    state = ProtoField.uint8("tether.state", "Session state", base.DEC, SESSION_STATES),
    diag = ProtoField.uint8("tether.diag", "Diag", base.DEC, DIAGS),
    netlen = ProtoField.uint8("tether.netlen", "Network name length", base.DEC),
    cluster = ProtoField.uint16("tether.cluster", "Cluster id", base.DEC),
    src = ProtoField.uint16("tether.src", "Source node", base.DEC),
    dst = ProtoField.uint16("tether.dst", "Destination node", base.DEC),
    dst_broadcast = ProtoField.bool("tether.dst.broadcast", "Broadcast"),
    heartbeat = ProtoField.uint32("tether.heartbeat", "Heartbeat interval (µs)", base.DEC),
    peerinact = ProtoField.uint32("tether.peerinact", "Peerinact (µs)", base.DEC),
    incarnation = ProtoField.uint64("tether.incarnation", "Incarnation", base.HEX),
    seq = ProtoField.uint64("tether.seq", "Sequence", base.DEC),
    timestamp = ProtoField.uint64("tether.timestamp", "Send timestamp (ns)", base.DEC),
    echo_incarnation = ProtoField.uint64("tether.echo.incarnation", "Echo incarnation", base.HEX),
    echo_seq = ProtoField.uint64("tether.echo.seq", "Echo sequence", base.DEC),
    echo_timestamp = ProtoField.uint64("tether.echo.timestamp", "Echo timestamp (ns)", base.DEC),
    echo_hold = ProtoField.uint32("tether.echo.hold", "Echo hold (µs)", base.DEC),
    probe_ack = ProtoField.uint64("tether.probe_ack", "Probe ack", base.DEC),
    vector_count = ProtoField.uint8("tether.vector_count", "Link vector entries", base.DEC),
    payload_len = ProtoField.uint16("tether.payload_len", "Payload length", base.DEC),
    pad_len = ProtoField.uint16("tether.pad_len", "Pad length", base.DEC),
    network = ProtoField.string("tether.network", "Network"),

    vector = ProtoField.none("tether.vector", "Link vector entry"),
    vec_netlen = ProtoField.uint8("tether.vector.netlen", "Network name length", base.DEC),
    vec_network = ProtoField.string("tether.vector.network", "Network"),
    vec_state = ProtoField.uint8("tether.vector.state", "Link state", base.DEC, LINK_STATES),
    vec_reason = ProtoField.uint8("tether.vector.reason", "Reason", base.DEC, REASONS),
    vec_flags = ProtoField.uint8("tether.vector.flags", "Flags", base.HEX),
    vec_hears_you = ProtoField.bool("tether.vector.flags.hears_you", "Hears you", 8, nil, 0x01),
    vec_carrier = ProtoField.bool("tether.vector.flags.carrier", "Carrier", 8, nil, 0x02),
    vec_flags_reserved = ProtoField.uint8("tether.vector.flags.reserved", "Reserved", base.HEX, nil, 0xFC),
    vec_loss = ProtoField.uint8("tether.vector.loss", "Loss (%)", base.DEC),

    payload = ProtoField.bytes("tether.payload", "Payload"),
    topic = ProtoField.uint8("tether.topic", "Topic", base.DEC, TOPICS),
    payload_data = ProtoField.bytes("tether.payload.data", "Body"),
    pad = ProtoField.bytes("tether.pad", "Pad"),
    keyid = ProtoField.uint32("tether.keyid", "Key id", base.HEX),
    tag = ProtoField.bytes("tether.tag", "Tag (not verified)"),
    trailing = ProtoField.bytes("tether.trailing", "Trailing bytes"),
    undecoded = ProtoField.bytes("tether.undecoded", "Undecoded"),
}
local pf_list = {}
for _, f in pairs(pf) do
    pf_list[#pf_list + 1] = f
end
tether.fields = pf_list

local ef = {
    truncated = ProtoExpert.new("tether.truncated", "Truncated tether frame",
        expert.group.MALFORMED, expert.severity.ERROR),
    malformed = ProtoExpert.new("tether.malformed", "Malformed tether frame",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_magic = ProtoExpert.new("tether.bad_magic", "Not a tether frame (bad magic)",
        expert.group.MALFORMED, expert.severity.ERROR),
    unsupported_version = ProtoExpert.new("tether.unsupported_version", "Unsupported tether version",
        expert.group.UNDECODED, expert.severity.WARN),
    unknown_value = ProtoExpert.new("tether.unknown_value", "Unknown value",
        expert.group.UNDECODED, expert.severity.WARN),
}
tether.experts = { ef.truncated, ef.malformed, ef.bad_magic, ef.unsupported_version, ef.unknown_value }

tether.prefs.ethertype = Pref.string("EtherType", string.format("0x%04X", DEFAULT_ETHERTYPE),
    "EtherType of tether's ether channel (networks[].ethertype in tether's config), hex (0x88B5) or decimal")
tether.prefs.tcp_port = Pref.uint("TCP port", DEFAULT_TCP_PORT,
    "TCP port of tether's tcp channel (networks[].port in tether's config)")

-- TRUNC is raised (error(TRUNC)) when a field runs past the frame.
local TRUNC = {}

-- add_enum adds a numeric field whose label reads "Label: name (N)".
local function add_enum(tree, field, range, label, tbl)
    local v = range:uint()
    local item
    if tbl[v] ~= nil then
        item = tree:add(field, range, v, string.format("%s: %s (%d)", label, tbl[v], v))
    else
        item = tree:add(field, range, v, string.format("%s: unknown (%d)", label, v))
        item:add_proto_expert_info(ef.unknown_value, string.format("%s %d has no name here", label:lower(), v))
    end
    return item, v
end

-- parse_frame dissects the frame in buf[0, lim): header, name, vector,
-- payload and pad; the caller dissects the trailer. It fills st for the
-- Info column and returns the offset after the pad. It raises TRUNC when
-- a field does not fit in lim.
local function parse_frame(buf, tree, lim, st)
    local function need(off, n, what)
        if off + n > lim then
            st.truncated = what
            error(TRUNC)
        end
    end
    local function malformed(item, fmt, ...)
        item:add_proto_expert_info(ef.malformed, string.format(fmt, ...))
    end

    -- Header, 87 bytes (magic and version are done).
    need(3, 1, "type")
    local _, ty = add_enum(tree, pf.type, buf(3, 1), "Type", FRAME_TYPES)
    st.type = ty

    need(4, 1, "flags")
    local flags = buf(4, 1):uint()
    local fi = tree:add(pf.flags, buf(4, 1))
    if bit(flags, 0x01) then
        fi:append_text(" (probe)")
        st.probe = true
    end
    if bit(flags, 0x02) then
        fi:append_text(" (copy)")
        st.copy = true
    end
    fi:add(pf.flag_probe, buf(4, 1))
    fi:add(pf.flag_copy, buf(4, 1))
    fi:add(pf.flag_after_probe, buf(4, 1))
    fi:add(pf.flag_reserved, buf(4, 1))
    if flags >= 8 then
        malformed(fi, "reserved flags 0x%02x", flags)
    end

    need(5, 1, "session state")
    local _, state = add_enum(tree, pf.state, buf(5, 1), "Session state", SESSION_STATES)
    st.state = state

    need(6, 1, "diag")
    add_enum(tree, pf.diag, buf(6, 1), "Diag", DIAGS)

    need(7, 1, "network name length")
    local nameLen = buf(7, 1):uint()
    local nli = tree:add(pf.netlen, buf(7, 1))
    if nameLen == 0 or nameLen > MAX_NAME_LEN then
        malformed(nli, "network name length %d (1..%d)", nameLen, MAX_NAME_LEN)
    end

    need(8, 2, "cluster id")
    tree:add(pf.cluster, buf(8, 2))

    need(10, 2, "source node")
    local src = buf(10, 2):uint()
    tree:add(pf.src, buf(10, 2))
    st.src = src

    need(12, 2, "destination node")
    local dst = buf(12, 2):uint()
    st.dst = dst
    if dst == BROADCAST then
        tree:add(pf.dst, buf(12, 2), dst, string.format("Destination node: broadcast (%d)", dst))
        tree:add(pf.dst_broadcast, buf(12, 2), true):set_generated()
    else
        tree:add(pf.dst, buf(12, 2))
    end

    need(14, 4, "heartbeat interval")
    local hb = buf(14, 4):uint()
    tree:add(pf.heartbeat, buf(14, 4), hb, "Heartbeat interval: " .. micros(hb))

    need(18, 4, "peerinact")
    local pi = buf(18, 4):uint()
    tree:add(pf.peerinact, buf(18, 4), pi, "Peerinact: " .. micros(pi))

    need(22, 8, "incarnation")
    local inci = tree:add(pf.incarnation, buf(22, 8))
    if buf(22, 8):uint64() == UInt64(0) then
        malformed(inci, "incarnation 0")
    end

    need(30, 8, "sequence")
    st.seq = buf(30, 8):uint64()
    tree:add(pf.seq, buf(30, 8))

    need(38, 8, "send timestamp")
    local ts = buf(38, 8):uint64()
    local tsi = tree:add(pf.timestamp, buf(38, 8), ts, "Send timestamp: " .. nanos(ts) .. " on the sender's clock")
    if buf(38, 8):int64() < Int64(0) then
        malformed(tsi, "negative timestamp")
    end

    need(46, 8, "echo incarnation")
    local ei = tree:add(pf.echo_incarnation, buf(46, 8))
    if buf(46, 8):uint64() == UInt64(0) then
        ei:append_text(" (nothing heard)")
    end

    need(54, 8, "echo sequence")
    tree:add(pf.echo_seq, buf(54, 8))

    need(62, 8, "echo timestamp")
    local ets = buf(62, 8):uint64()
    local etsi = tree:add(pf.echo_timestamp, buf(62, 8), ets, "Echo timestamp: " .. nanos(ets) .. " on the destination's clock")
    if buf(62, 8):int64() < Int64(0) then
        malformed(etsi, "negative echo timestamp")
    end

    need(70, 4, "echo hold")
    local hold = buf(70, 4):uint()
    tree:add(pf.echo_hold, buf(70, 4), hold, "Echo hold: " .. micros(hold))

    need(74, 8, "probe ack")
    tree:add(pf.probe_ack, buf(74, 8))

    need(82, 1, "vector entry count")
    local nvec = buf(82, 1):uint()
    local nvi = tree:add(pf.vector_count, buf(82, 1))
    if nvec > MAX_VECTOR then
        malformed(nvi, "%d link vector entries, max %d", nvec, MAX_VECTOR)
    end

    need(83, 2, "payload length")
    local payLen = buf(83, 2):uint()
    local pli = tree:add(pf.payload_len, buf(83, 2))
    if payLen > MAX_PAYLOAD then
        malformed(pli, "payload of %d bytes, max %d", payLen, MAX_PAYLOAD)
    end

    need(85, 2, "pad length")
    local padLen = buf(85, 2):uint()
    local padi = tree:add(pf.pad_len, buf(85, 2))
    if padLen > MAX_PAD then
        malformed(padi, "pad of %d bytes, max %d", padLen, MAX_PAD)
    end

    -- Network name.
    local off = HEADER_LEN
    need(off, nameLen, "network name")
    if nameLen > 0 then
        local name = buf(off, nameLen):string()
        st.network = printable(name)
        local ni = tree:add(pf.network, buf(off, nameLen))
        if not valid_name(name) then
            malformed(ni, "network name \"%s\"", printable(name))
        end
    end
    off = off + nameLen

    -- Link vector.
    for i = 1, nvec do
        need(off, 1, "link vector entry " .. i)
        local n = buf(off, 1):uint()
        need(off, 5 + n, "link vector entry " .. i)
        local vt = tree:add(pf.vector, buf(off, 5 + n))
        local nli2 = vt:add(pf.vec_netlen, buf(off, 1))
        local vname = ""
        if n > 0 then
            local raw = buf(off + 1, n):string()
            vname = printable(raw)
            local vni = vt:add(pf.vec_network, buf(off + 1, n))
            if not valid_name(raw) then
                malformed(vni, "link vector entry %d: network name \"%s\"", i, vname)
            end
        else
            malformed(nli2, "link vector entry %d: empty network name", i)
        end
        local p = off + 1 + n
        local _, vs = add_enum(vt, pf.vec_state, buf(p, 1), "Link state", LINK_STATES)
        local _, vr = add_enum(vt, pf.vec_reason, buf(p + 1, 1), "Reason", REASONS)
        local vfl = buf(p + 2, 1):uint()
        local vfi = vt:add(pf.vec_flags, buf(p + 2, 1))
        vfi:add(pf.vec_hears_you, buf(p + 2, 1))
        vfi:add(pf.vec_carrier, buf(p + 2, 1))
        vfi:add(pf.vec_flags_reserved, buf(p + 2, 1))
        local fl = {}
        if bit(vfl, 0x01) then
            fl[#fl + 1] = "hears-you"
        end
        if bit(vfl, 0x02) then
            fl[#fl + 1] = "carrier"
        end
        if #fl > 0 then
            vfi:append_text(" (" .. table.concat(fl, ", ") .. ")")
        end
        if vfl >= 4 then
            malformed(vfi, "link vector entry %d: reserved flags 0x%02x", i, vfl)
        end
        local loss = buf(p + 3, 1):uint()
        local lossText
        if loss == LOSS_UNKNOWN then
            lossText = "unknown (255)"
        else
            lossText = loss .. " %"
        end
        local li = vt:add(pf.vec_loss, buf(p + 3, 1), loss, "Loss: " .. lossText)
        if loss > 100 and loss ~= LOSS_UNKNOWN then
            malformed(li, "link vector entry %d: loss %d", i, loss)
        end
        local summary = string.format("Link vector entry %d: %s %s", i, vname, name_of(LINK_STATES, vs))
        if vr ~= 0 then
            summary = summary .. " " .. name_of(REASONS, vr)
        end
        if #fl > 0 then
            summary = summary .. " [" .. table.concat(fl, " ") .. "]"
        end
        summary = summary .. ", loss " .. lossText
        vt:set_text(summary)
        off = off + 5 + n
    end

    -- Payload.
    if payLen > 0 then
        need(off, payLen, "payload")
        local pi2 = tree:add(pf.payload, buf(off, payLen))
        pi2:set_text(string.format("Payload (%d bytes)", payLen))
        if ty == 3 then
            local topic = buf(off, 1):uint()
            st.topic = topic
            pi2:add(pf.topic, buf(off, 1), topic, string.format("Topic: %s (%d)", topic_name(topic), topic))
            if payLen > 1 then
                pi2:add(pf.payload_data, buf(off + 1, payLen - 1))
            end
        else
            pi2:add(pf.payload_data, buf(off, payLen))
        end
    end
    off = off + payLen

    -- Pad.
    if padLen > 0 then
        need(off, padLen, "pad")
        local pdi = tree:add(pf.pad, buf(off, padLen))
        pdi:set_text(string.format("Pad (%d zero bytes)", padLen))
        if buf(off, padLen):bytes():tohex():find("[^0]") then
            malformed(pdi, "non-zero padding")
        end
    end
    off = off + padLen
    return off
end

-- info_text builds the Info column: "hb0 node3 -> node1 heartbeat UP seq=42".
local function info_text(st)
    local parts = {}
    parts[#parts + 1] = st.network or "?"
    parts[#parts + 1] = (st.src and node_str(st.src) or "?") .. " -> " .. (st.dst and node_str(st.dst) or "?")
    parts[#parts + 1] = st.type and name_of(FRAME_TYPES, st.type) or "?"
    if st.state then
        parts[#parts + 1] = name_of(SESSION_STATES, st.state)
    end
    if st.seq then
        parts[#parts + 1] = "seq=" .. tostring(st.seq)
    end
    local s = table.concat(parts, " ")
    if st.copy then
        s = s .. " copy"
    end
    if st.probe then
        s = s .. " probe"
    end
    return s
end

-- dissect_frame dissects one llt frame (all of buf) under root and
-- returns the Info text. It never raises on bad input: problems are
-- expert infos.
local function dissect_frame(buf, pinfo, root)
    local total = buf:len()
    local tree
    if total == 0 then
        tree = root:add(tether)
        tree:add_proto_expert_info(ef.truncated, "empty frame")
        return "tether [truncated: empty]"
    end
    tree = root:add(tether, buf())

    if total < 2 then
        tree:add_proto_expert_info(ef.truncated, string.format("%d bytes", total))
        return "tether [truncated]"
    end
    local mi = tree:add(pf.magic, buf(0, 2))
    if buf(0, 2):string() ~= "TH" then
        mi:add_proto_expert_info(ef.bad_magic, string.format("magic 0x%s, want \"TH\"", buf(0, 2):bytes():tohex()))
        tree:add(pf.undecoded, buf(0))
        return "not a tether frame (bad magic)"
    end
    if total < 3 then
        tree:add_proto_expert_info(ef.truncated, string.format("%d bytes", total))
        return "tether [truncated]"
    end
    local version = buf(2, 1):uint()
    local vi = tree:add(pf.version, buf(2, 1))
    if version ~= VERSION then
        vi:add_proto_expert_info(ef.unsupported_version,
            string.format("unsupported version %d: this dissector speaks version %d", version, VERSION))
        if total > 3 then
            tree:add(pf.undecoded, buf(3))
        end
        tree:append_text(string.format(", version %d (unsupported)", version))
        return string.format("tether version %d (unsupported)", version)
    end

    local st = {}
    local captured_all = buf:reported_len() <= total
    local lim = total - TRAILER_LEN
    if total < MIN_FRAME_LEN or not captured_all then
        -- Too short to hold a trailer (or cut by the snapshot length):
        -- dissect what is there.
        lim = total
    end
    local ok, err = pcall(parse_frame, buf, tree, lim, st)
    if not ok then
        if err ~= TRUNC then
            error(err, 0)
        end
        local why
        if not captured_all then
            why = string.format("captured %d of %d bytes; %s cut", total, buf:reported_len(), st.truncated)
        elseif total < MIN_FRAME_LEN then
            why = string.format("%d bytes, minimum %d; %s cut", total, MIN_FRAME_LEN, st.truncated)
        else
            why = string.format("%s runs past the key id and tag", st.truncated)
        end
        tree:add_proto_expert_info(ef.truncated, why)
        local info = info_text(st) .. " [truncated]"
        tree:append_text(", " .. info)
        return info
    end
    local off = err
    if lim == total then
        -- Everything fit, but no room was left for the trailer.
        tree:add_proto_expert_info(ef.truncated, string.format("%d bytes, no key id and tag", total))
        local info = info_text(st) .. " [truncated]"
        tree:append_text(", " .. info)
        return info
    end
    if off < lim then
        local tri = tree:add(pf.trailing, buf(off, lim - off))
        tri:add_proto_expert_info(ef.malformed, string.format("%d trailing bytes", lim - off))
    end
    tree:add(pf.keyid, buf(lim, 4))
    tree:add(pf.tag, buf(lim + 4, 16))

    local info = info_text(st)
    tree:append_text(", " .. info)
    return info
end

function tether.dissector(buf, pinfo, root)
    pinfo.cols.protocol:set("tether")
    pinfo.cols.info:set(dissect_frame(buf, pinfo, root))
    return buf:len()
end

----------------------------------------------------------------------
-- The tcp channel: a handshake of 16-bit-length-prefixed messages, then
-- 32-bit-length-prefixed llt frames.
----------------------------------------------------------------------

local tether_tcp = Proto("tether_tcp", "tether tcp channel")

local tf = {
    frame_len = ProtoField.uint32("tether_tcp.frame_len", "Frame length", base.DEC),
    hs_len = ProtoField.uint16("tether_tcp.hs.len", "Message length", base.DEC),
    hs_magic = ProtoField.string("tether_tcp.hs.magic", "Magic"),
    hs_version = ProtoField.uint8("tether_tcp.hs.version", "Version", base.DEC),
    hs_type = ProtoField.uint8("tether_tcp.hs.type", "Type", base.DEC, HS_TYPES),
    hs_cluster = ProtoField.uint16("tether_tcp.hs.cluster", "Cluster id", base.DEC),
    hs_from = ProtoField.uint16("tether_tcp.hs.from", "From node", base.DEC),
    hs_to = ProtoField.uint16("tether_tcp.hs.to", "To node", base.DEC),
    hs_node = ProtoField.uint16("tether_tcp.hs.node", "Server node", base.DEC),
    hs_keyid = ProtoField.uint32("tether_tcp.hs.keyid", "Key id", base.HEX),
    hs_nonce = ProtoField.bytes("tether_tcp.hs.nonce", "Nonce"),
    hs_netlen = ProtoField.uint8("tether_tcp.hs.netlen", "Network name length", base.DEC),
    hs_network = ProtoField.string("tether_tcp.hs.network", "Network"),
    hs_proof = ProtoField.bytes("tether_tcp.hs.proof", "Proof (not verified)"),
    hs_mac = ProtoField.bytes("tether_tcp.hs.mac", "MAC (not verified)"),
    hs_code = ProtoField.uint8("tether_tcp.hs.code", "Result", base.DEC, HS_RESULT_CODES),
    hs_data = ProtoField.bytes("tether_tcp.hs.data", "Data"),
    data = ProtoField.bytes("tether_tcp.data", "Data"),
}
local tf_list = {}
for _, f in pairs(tf) do
    tf_list[#tf_list + 1] = f
end
tether_tcp.fields = tf_list

local tef = {
    not_pdu = ProtoExpert.new("tether_tcp.not_pdu", "Not a tether PDU",
        expert.group.MALFORMED, expert.severity.WARN),
    hs_malformed = ProtoExpert.new("tether_tcp.hs_malformed", "Malformed tether handshake message",
        expert.group.MALFORMED, expert.severity.ERROR),
}
tether_tcp.experts = { tef.not_pdu, tef.hs_malformed }

-- pdu_kind tells what starts at offset: "hs" (a handshake message: 16-bit
-- length, "THTC"), "frame" (32-bit length, "TH") or nil.
local function pdu_kind(buf, offset)
    if buf:len() - offset >= 6 then
        if buf(offset + 2, 4):string() == HS_MAGIC then
            return "hs"
        end
        if buf(offset + 4, 2):string() == "TH" and buf(offset, 4):uint() <= MAX_TCP_FRAME then
            return "frame"
        end
    end
    return nil
end

local function tcp_pdu_len(buf, pinfo, offset)
    local kind = pdu_kind(buf, offset)
    if kind == "hs" then
        return 2 + buf(offset, 2):uint()
    elseif kind == "frame" then
        return 4 + buf(offset, 4):uint()
    end
    -- Not at a PDU boundary (the capture started mid-stream, or it is not
    -- tether): take the rest of the segment as one undissectable PDU.
    return buf:len() - offset
end

local function dissect_hs(buf, pinfo, root)
    local total = buf:len()
    local mlen = buf(0, 2):uint()
    local tree = root:add(tether_tcp, buf(), "tether tcp handshake")
    tree:add(tf.hs_len, buf(0, 2))
    tree:add(tf.hs_magic, buf(2, 4))
    local body = buf(2, total - 2)
    local blen = body:len()
    if blen < 6 then
        tree:add_proto_expert_info(tef.hs_malformed, string.format("message of %d bytes", blen))
        return "tether tcp handshake [truncated]"
    end
    local version = buf(6, 1):uint()
    local vi = tree:add(tf.hs_version, buf(6, 1))
    local typ = buf(7, 1):uint()
    local tname = name_of(HS_TYPES, typ)
    tree:add(tf.hs_type, buf(7, 1), typ, string.format("Type: %s (%d)", tname, typ))
    tree:append_text(": " .. tname)
    local info = "tether tcp handshake " .. tname
    if version ~= HS_VERSION then
        vi:add_proto_expert_info(ef.unsupported_version,
            string.format("unsupported handshake version %d: this dissector speaks version %d", version, HS_VERSION))
        if blen > 6 then
            tree:add(tf.hs_data, buf(8))
        end
        return info .. string.format(" (version %d, unsupported)", version)
    end
    if mlen > MAX_HS_MSG then
        tree:add_proto_expert_info(tef.hs_malformed, string.format("message of %d bytes, max %d", mlen, MAX_HS_MSG))
    end

    -- Message fields, at offsets in the message body (after the length).
    local o = 8 -- first byte after magic, version, type (in buf)
    local function fits(n)
        return o + n <= total
    end
    local ok = true
    if typ == 1 then -- HELLO cluster:2 from:2 to:2 keyid:4 nonce:32 netlen:1 network
        if fits(2 + 2 + 2 + 4 + 32 + 1) then
            tree:add(tf.hs_cluster, buf(o, 2))
            local from, to = buf(o + 2, 2):uint(), buf(o + 4, 2):uint()
            tree:add(tf.hs_from, buf(o + 2, 2))
            tree:add(tf.hs_to, buf(o + 4, 2))
            tree:add(tf.hs_keyid, buf(o + 6, 4))
            tree:add(tf.hs_nonce, buf(o + 10, 32))
            local n = buf(o + 42, 1):uint()
            tree:add(tf.hs_netlen, buf(o + 42, 1))
            o = o + 43
            if fits(n) and n > 0 then
                tree:add(tf.hs_network, buf(o, n))
                info = string.format("%s %s node%d -> node%d", info, printable(buf(o, n):string()), from, to)
                o = o + n
            elseif n > 0 then
                ok = false
            end
        else
            ok = false
        end
    elseif typ == 2 then -- CHALLENGE nonce:32 proof:32
        if fits(64) then
            tree:add(tf.hs_nonce, buf(o, 32))
            tree:add(tf.hs_proof, buf(o + 32, 32))
            o = o + 64
        else
            ok = false
        end
    elseif typ == 3 then -- AUTH mac:32
        if fits(32) then
            tree:add(tf.hs_mac, buf(o, 32))
            o = o + 32
        else
            ok = false
        end
    elseif typ == 4 then -- RESULT code:1 cluster:2 node:2 netlen:1 network mac:32
        if fits(6) then
            local code = buf(o, 1):uint()
            tree:add(tf.hs_code, buf(o, 1), code, string.format("Result: %s (%d)", name_of(HS_RESULT_CODES, code), code))
            tree:add(tf.hs_cluster, buf(o + 1, 2))
            tree:add(tf.hs_node, buf(o + 3, 2))
            local n = buf(o + 5, 1):uint()
            tree:add(tf.hs_netlen, buf(o + 5, 1))
            o = o + 6
            info = info .. " " .. name_of(HS_RESULT_CODES, code)
            if fits(n + 32) then
                if n > 0 then
                    tree:add(tf.hs_network, buf(o, n))
                end
                tree:add(tf.hs_mac, buf(o + n, 32))
                o = o + n + 32
            else
                ok = false
            end
        else
            ok = false
        end
    else
        tree:add_proto_expert_info(ef.unknown_value, string.format("handshake message type %d", typ))
    end
    if not ok then
        tree:add_proto_expert_info(tef.hs_malformed, string.format("%s of %d bytes is too short", tname, blen))
    end
    if o < total then
        local di = tree:add(tf.hs_data, buf(o))
        if ok and typ >= 1 and typ <= 4 then
            di:add_proto_expert_info(tef.hs_malformed, string.format("%d trailing bytes", total - o))
        end
    end
    return info
end

local function tcp_pdu(buf, pinfo, root)
    local n = tonumber(pinfo.private["tether_pdus"] or "0") + 1
    pinfo.private["tether_pdus"] = tostring(n)
    pinfo.cols.protocol:set("tether")

    local info
    local kind = pdu_kind(buf, 0)
    if kind == "hs" then
        info = dissect_hs(buf, pinfo, root)
    elseif kind == "frame" then
        local flen = buf(0, 4):uint()
        local ti = root:add(tether_tcp, buf(0, 4), string.format("tether tcp channel, frame of %d bytes", flen))
        ti:add(tf.frame_len, buf(0, 4))
        info = dissect_frame(buf(4):tvb(), pinfo, root)
    else
        local ti = root:add(tether_tcp, buf(), "tether tcp channel")
        local di = ti:add(tf.data, buf())
        di:add_proto_expert_info(tef.not_pdu,
            "not at a tether PDU boundary: the capture started mid-stream, or this is not tether")
        info = "tether tcp: data"
    end
    if n == 1 then
        pinfo.cols.info:set(info)
    else
        pinfo.cols.info:append(" | " .. info)
    end
    return buf:len()
end

function tether_tcp.dissector(buf, pinfo, root)
    dissect_tcp_pdus(buf, root, 6, tcp_pdu_len, tcp_pdu, true)
    return buf:len()
end

----------------------------------------------------------------------
-- Registration
----------------------------------------------------------------------

local registered_ethertype, registered_port

-- parse_ethertype returns the EtherType of the preference string s, or nil.
local function parse_ethertype(s)
    local v = tonumber((s or ""):match("^%s*(.-)%s*$"))
    if v and v == math.floor(v) and v >= 0x0600 and v <= 0xFFFF then
        return v
    end
    return nil
end

local function register()
    local et = DissectorTable.get("ethertype")
    local etype = parse_ethertype(tether.prefs.ethertype)
    if not etype then
        report_failure(string.format("tether: EtherType preference %q is not an EtherType (0x0600..0xFFFF): keeping 0x%04X",
            tostring(tether.prefs.ethertype), registered_ethertype or DEFAULT_ETHERTYPE))
        etype = registered_ethertype or DEFAULT_ETHERTYPE
    end
    if registered_ethertype ~= etype then
        if registered_ethertype then
            et:remove(registered_ethertype, tether)
        end
        registered_ethertype = etype
        et:add(registered_ethertype, tether)
    end
    local tp = DissectorTable.get("tcp.port")
    if registered_port ~= tether.prefs.tcp_port then
        if registered_port then
            tp:remove(registered_port, tether_tcp)
        end
        registered_port = tether.prefs.tcp_port
        tp:add(registered_port, tether_tcp)
    end
end

tether.prefs_changed = register
register()
