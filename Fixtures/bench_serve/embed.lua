-- wrk script of Fixtures/bench_serve.sh: POST one sentence per request, rotating through a
-- sentence file so that consecutive requests differ, and tally the responses by HTTP status.
--
--   wrk -t1 -c8 -d20s --latency -s embed.lua http://127.0.0.1:PORT/v1/embeddings -- openai sentences.txt
--   wrk ... http://127.0.0.1:PORT/embed -- tei sentences.txt
--
-- Bodies: openai {"input": SENTENCE, "model": "m"}; tei {"inputs": SENTENCE}.
-- done() prints one line the benchmark script reads (latencies in microseconds, from the same
-- histogram as wrk's --latency distribution):
--   BENCH requests=N seconds=S rps=R p50_us=.. p90_us=.. p99_us=.. max_us=.. statuses=200:N,429:M
--         connect=.. read=.. write=.. timeout=..

local bodies = {}
local next_body = 1
local path = "/"
local headers = { ["Content-Type"] = "application/json" }
counts = {}  -- status -> responses; global so that done() can read it from each thread

local function quote(s)
    s = s:gsub('[%c"\\]', function(c)
        if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
        return string.format("\\u%04x", c:byte())
    end)
    return '"' .. s .. '"'
end

local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    local style, file = args[1] or "openai", args[2]
    assert(file, "usage: wrk ... -s embed.lua URL -- openai|tei SENTENCES_FILE")
    path = wrk.path
    for line in io.lines(file) do
        if #line > 0 then
            if style == "tei" then
                table.insert(bodies, '{"inputs":' .. quote(line) .. '}')
            elseif style == "openai" then
                table.insert(bodies, '{"input":' .. quote(line) .. ',"model":"m"}')
            else
                error("unknown body style " .. style .. " (openai or tei)")
            end
        end
    end
    assert(#bodies > 0, "no sentences in " .. file)
    -- Threads start at different places in the list.
    next_body = (id or 0) * 997 % #bodies + 1
end

function request()
    local body = bodies[next_body]
    next_body = next_body % #bodies + 1
    return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
        local c = thread:get("counts") or {}
        for status, n in pairs(c) do total[status] = (total[status] or 0) + n end
    end
    local codes = {}
    for status in pairs(total) do table.insert(codes, status) end
    table.sort(codes)
    local parts = {}
    for _, status in ipairs(codes) do table.insert(parts, status .. ":" .. total[status]) end
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d seconds=%.3f rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d statuses=%s connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        #parts > 0 and table.concat(parts, ",") or "none", e.connect, e.read, e.write, e.timeout))
end
