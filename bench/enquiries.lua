-- wrk script: POST one enquiry per request, each with its own idempotency key.
-- Reads PATH, AUTH_HEADER and AUTH_VALUE (and CSRF cookie/header for the checklist) from the environment.
-- PAUSE_MS paces each connection: it waits that long on average (jittered, so the
-- connections do not fire in step) before each request, for a chosen request rate.
local counter = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() + id)
  prefix = string.format("w%d-%d-", id, math.random(1, 1000000000))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  if os.getenv("AUTH_HEADER") then wrk.headers[os.getenv("AUTH_HEADER")] = os.getenv("AUTH_VALUE") end
  if os.getenv("COOKIE") then wrk.headers["Cookie"] = os.getenv("COOKIE") end
  if os.getenv("CSRF") then wrk.headers["X-CSRF-Token"] = os.getenv("CSRF") end
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"channel":"phone","segment":"private","hypotheses":["h%03d"],"idempotency_key":"%s%d"}',
    counter % 15, prefix, counter)
  return wrk.format(nil, os.getenv("PATH_TO_POST"), nil, body)
end

local pause = tonumber(os.getenv("PAUSE_MS") or "0")
if pause > 0 then
  -- wrk takes whole milliseconds; the jitter also spreads the fractions.
  function delay()
    return math.floor(pause * (0.5 + math.random()) + math.random())
  end
end
