-- wrk script for `make bench-allocation`: every request POSTs one 3-line order to /api/v1/orders.
-- The run's settings come from the file named by AFTERSAIL_BENCH_WRK_CONFIG (key=value lines):
--   key, live_session, phase (cold|hot), cold / hot (SKU ids), countries / hot_countries, buyers, out.
-- Cold phase: three distinct SKUs of the long tail, shipped to a buyer in any of the countries.
-- Hot phase: one of the hot SKUs (1 unit, the live-stream item) plus two long-tail SKUs, to Europe.
-- done() writes the status counts and the latency histogram (microseconds) to `out`.

local function read_config(path)
  local config = {}
  for line in io.lines(path) do
    local key, value = line:match("^([%w_]+)=(.*)$")
    if key then config[key] = value end
  end
  return config
end

local function split(text)
  local items = {}
  for item in text:gmatch("[^,]+") do items[#items + 1] = item end
  return items
end

local config = read_config(os.getenv("AFTERSAIL_BENCH_WRK_CONFIG"))
local cold = split(config.cold)
local hot = split(config.hot or "")
local hot_phase = config.phase == "hot"
local countries = split(hot_phase and config.hot_countries or config.countries)
local buyers = tonumber(config.buyers)

wrk.method = "POST"
wrk.path = "/api/v1/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. config.key

local threads = {}
statuses = {}
samples = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919 + tonumber(config.seed or 0))
end

local function line(sku, quantity)
  return string.format('{"sku_id":%s,"quantity":%d,"unit_price_minor":1999}', sku, quantity)
end

local function three_lines()
  local a = math.random(#cold)
  local b = math.random(#cold - 1)
  if b >= a then b = b + 1 end
  if hot_phase then
    return line(hot[math.random(#hot)], 1) .. "," .. line(cold[a], 1) .. "," .. line(cold[b], 1)
  end
  local c = math.random(#cold - 2)
  if c >= math.min(a, b) then c = c + 1 end
  if c >= math.max(a, b) then c = c + 1 end
  return line(cold[a], math.random(2)) .. "," .. line(cold[b], 1) .. "," .. line(cold[c], 1)
end

function request()
  local buyer = math.random(buyers)
  local country = countries[buyer % #countries + 1]
  local body = string.format(
    '{"customer":{"name":"Buyer %d","email":"buyer%d-%s@example.com","country":"%s"},'
      .. '"currency":"EUR","live_session_id":%s,'
      .. '"shipping_address":{"name":"Buyer %d","line1":"%d Market Street","city":"City %d",'
      .. '"postal_code":"%05d","country":"%s"},"lines":[%s]}',
    buyer, buyer, country, country, config.live_session, buyer, buyer, buyer % 97, buyer, country,
    three_lines()
  )
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 300 and #samples < 3 then samples[#samples + 1] = status .. " " .. body:sub(1, 300) end
end

function done(summary, latency, requests)
  local out = assert(io.open(config.out, "w"))
  out:write(string.format("duration_us %d\n", summary.duration))
  out:write(string.format("requests %d\n", summary.requests))
  local errors = summary.errors
  out:write(string.format("socket_errors %d\n", errors.connect + errors.read + errors.write + errors.timeout))
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      out:write(string.format("status %d %d\n", status, count))
    end
    for _, sample in ipairs(thread:get("samples")) do
      out:write("sample " .. sample:gsub("\n", " ") .. "\n")
    end
  end
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format("latency %d %d\n", value, count))
  end
  out:close()
end
