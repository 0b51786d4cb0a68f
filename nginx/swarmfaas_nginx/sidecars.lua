-- The sidecars nginx balances over, learnt without a reload (render.py
-- inlines this file in init_by_lua_block). The supervisor writes the
-- addresses it resolves to a file, one "ip port" a line; every worker reads
-- that file again on a timer and keeps the list. A reload would have closed
-- every idle keep-alive connection of the clients, and a request written on
-- one in that instant would be lost.
local balancer = require("ngx.balancer")

local M = {}
local peers = {}   -- { {ip, port}, ... } in the file's order
local text = nil   -- the file's content when `peers` was made from it
local turn = 0     -- round robin over `peers`, per worker

local function parse(content)
    local list = {}
    for ip, port in content:gmatch("([%x%.:]+) (%d+)") do
        list[#list + 1] = { ip, tonumber(port) }
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

-- One call per try of a request: the first try takes the next sidecar in
-- turn and allows a try on each sidecar; a retry (nginx's proxy_next_upstream)
-- takes the sidecar after the one that failed. The upstream's one server is
-- `down`, so nginx allows no try of its own: all n come from set_more_tries.
function M.balance()
    local n = #peers
    if n == 0 then
        return -- no sidecar known: the placeholder server (down) gives a 502
    end
    local ctx = ngx.ctx
    local try = ctx.swarmfaas_try
    if try == nil then
        turn = turn + 1
        ctx.swarmfaas_first = turn
        try = 0
        balancer.set_more_tries(n)
    else
        try = try + 1
    end
    ctx.swarmfaas_try = try
    local peer = peers[(ctx.swarmfaas_first + try) % n + 1]
    local ok, err = balancer.set_current_peer(peer[1], peer[2])
    if not ok then
        ngx.log(ngx.ERR, "cannot use sidecar ", peer[1], ":", peer[2], ": ", err)
    end
end

package.loaded["swarmfaas_sidecars"] = M
