-- wrk script for bench/load.py: agents ticking in the web checklist and integrations posting through
-- the API at once. Request n goes through the API when floor(n * API_SHARE / 100) steps up, so the two
-- kinds interleave evenly (bench/load.py's open-loop generator uses the same rule).
--   API_PATH, TICK_PATH  the two enquiry POSTs
--   BEARERS              API tokens, separated by spaces
--   AGENTS               signed-in agents, separated by spaces, each "csrf-cookie|session-cookie|csrf-token"
--   ORIGIN               the app's origin, sent by the browser with every fetch POST
--   API_SHARE            percent of requests through the API (default 50)
-- Each request carries its own idempotency key: 32 hex digits, as the checklist script makes them.
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local function words(text)
  local found = {}
  for word in string.gmatch(text or "", "%S+") do found[#found + 1] = word end
  return found
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  prefix = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  counter, ticks, calls = 0, 0, 0
  share = tonumber(os.getenv("API_SHARE") or "50")
  api_path = os.getenv("API_PATH")
  tick_path = os.getenv("TICK_PATH")
  integrations = {}
  for _, bearer in ipairs(words(os.getenv("BEARERS"))) do
    integrations[#integrations + 1] = {
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
      ["Authorization"] = "Bearer " .. bearer,
    }
  end
  agents = {}
  for _, agent in ipairs(words(os.getenv("AGENTS"))) do
    local browser, session, csrf = string.match(agent, "([^|]+)|([^|]+)|([^|]+)")
    agents[#agents + 1] = {
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
      ["X-CSRF-Token"] = csrf,
      ["Cookie"] = "tally_csrf=" .. browser .. "; tally_session=" .. session,
      ["Origin"] = os.getenv("ORIGIN"),
      ["Sec-Fetch-Site"] = "same-origin",
      ["Sec-Fetch-Mode"] = "cors",
    }
  end
end

local channels = { "phone", "chat", "email", "social" }

request = function()
  counter = counter + 1
  local key = string.format("%s%016x", prefix, counter)
  local hypothesis = string.format("h%03d", counter % 15)
  local channel = channels[counter % 4 + 1]
  if math.floor(counter * share / 100) > math.floor((counter - 1) * share / 100) then
    local body = string.format(
      '{"channel":"%s","segment":"private","hypotheses":["%s"],"idempotency_key":"%s"}', channel, hypothesis, key)
    calls = calls + 1
    return wrk.format("POST", api_path, integrations[calls % #integrations + 1], body)
  end
  -- As app/static/checklist.js sends it.
  local body = string.format(
    '{"idempotency_key":"%s","hypotheses":["%s"],"channel":"%s","segment":"private","note":null}',
    key, hypothesis, channel)
  ticks = ticks + 1
  return wrk.format("POST", tick_path, agents[ticks % #agents + 1], body)
end
