-- The sidecars nginx balances over, learnt without a reload (render.py
-- inlines this file in init_by_lua_block). The supervisor writes the
-- addresses it resolves to a file, one "ip port" a line; every worker reads
-- that file again on a timer and keeps the list. A reload would have closed
-- every idle keep-alive connection of the clients, and a request written on
-- one in that instant would be lost.
local balancer = require("ngx.balancer")

local M = {}
local peers = {}   -- { {ip, port, key}, ... } in the file's order
local text = nil   -- the file's content when `peers` was made from it
local turn = 0     -- round robin over `peers`, per worker
-- A sidecar whose connect failed or timed out rests: requests skip it for
-- REST seconds (per worker), then one tries it again. A sidecar on a node
-- that went silent would otherwise cost every n-th request a whole
-- proxy_connect_timeout until Docker's DNS drops it. A resting sidecar is
-- still a last resort: never is a request refused for it.
local REST = 10
local resting = {} -- key -> ngx.now() until which it rests

local function parse(content)
    local list = {}
    for ip, port in content:gmatch("([%x%.:]+) (%d+)") do
        list[#list + 1] = { ip, tonumber(port), ip .. " " .. port }
    end
    return list
end

local function load(path)
    local file = io.open(path, "r")
    if not file then
        return -- not written yet: keep what we have (nothing, or the last list)
    end
    local content = file:read("*a")
    file:close()
    if content ~= text then
        peers, text = parse(content), content
    end
end

function M.watch(path, every)
    load(path)
    local ok, err = ngx.timer.every(every, function(premature)
        if not premature then
            load(path)
        end
    end)
    if not ok then
        ngx.log(ngx.ERR, "cannot watch the sidecar list: ", err)
    end
end

-- The sidecar a try takes: the first not yet tried by this request from
-- `first` on in turn, skipping resting ones unless only resting ones are left.
local function pick(first, tried, now)
    local n = #peers
    local fallback = nil
    for k = 0, n - 1 do
        local peer = peers[(first + k) % n + 1]
        local key = peer[3]
        if not (tried and tried[key]) then
            local until_ = resting[key]
            if until_ == nil then
                return peer
            elseif until_ <= now then
                resting[key] = nil
                return peer
            end
            fallback = fallback or peer
        end
    end
    return fallback
end

-- One call per try of a request: the first try takes the next sidecar in
-- turn and allows a try on each sidecar; a retry (nginx's proxy_next_upstream:
-- a connect that failed or timed out, never a POST nginx wrote) rests the one
-- that failed and takes another. The upstream's one server is `down`, so
-- nginx allows no try of its own: all n come from set_more_tries.
function M.balance()
    local n = #peers
    if n == 0 then
        return -- no sidecar known: the placeholder server (down) gives a 502
    end
    local ctx = ngx.ctx
    local now = ngx.now()
    local tried = ctx.swarmfaas_tried
    if ctx.swarmfaas_peer == nil then
        turn = turn + 1
        ctx.swarmfaas_first = turn
        balancer.set_more_tries(n)
    else
        local last = ctx.swarmfaas_peer
        if balancer.get_last_failure() == "failed" then
            resting[last] = now + REST
        end
        if tried == nil then
            tried = {}
            ctx.swarmfaas_tried = tried
        end
        tried[last] = true
    end
    local peer = pick(ctx.swarmfaas_first, tried, now)
    if peer == nil then
        return -- every sidecar known was tried: the placeholder gives the 502
    end
    ctx.swarmfaas_peer = peer[3]
    local ok, err = balancer.set_current_peer(peer[1], peer[2])
    if not ok then
        ngx.log(ngx.ERR, "cannot use sidecar ", peer[1], ":", peer[2], ": ", err)
    end
end

package.loaded["swarmfaas_sidecars"] = M
