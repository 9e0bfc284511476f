-- A tiny test runner for headless Neovim: specs are plain Lua files that call `it(name, fn)`;
-- assertions are plain Lua errors. Each spec file runs in its own nvim process (run.sh, pytest).
-- Output is TAP-like on stdout; the process exits with `cquit 1` when any test failed.

local M = {}

local tests = {}
local SKIP = {}

--- Register a test. SWICTATION_TEST_ONLY (a plain substring of the name) runs only those.
function M.it(name, fn)
  local only = vim.env.SWICTATION_TEST_ONLY
  if only and only ~= "" and not name:find(only, 1, true) then
    return
  end
  tests[#tests + 1] = { name = name, fn = fn }
end

--- Skip the running test, visibly.
function M.skip(reason)
  error(setmetatable({ reason = reason }, SKIP), 0)
end

local function out(s)
  io.stdout:write(s .. "\n")
  io.stdout:flush()
end

function M.fmt(v)
  return type(v) == "string" and string.format("%q", v) or vim.inspect(v)
end

function M.eq(expected, actual, msg)
  if not vim.deep_equal(expected, actual) then
    error(("%sexpected %s, got %s"):format(msg and (msg .. ": ") or "", M.fmt(expected), M.fmt(actual)), 2)
  end
end

function M.truthy(v, msg)
  if not v then
    error(msg or "expected a true value", 2)
  end
  return v
end

function M.contains(haystack, needle, msg)
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    error(("%sexpected %s to contain %s"):format(msg and (msg .. ": ") or "", M.fmt(haystack), M.fmt(needle)), 2)
  end
end

--- Wait until `cond()` is true, or fail with `msg`.
function M.wait(ms, cond, msg)
  local ok = vim.wait(ms, function()
    return cond() and true or false
  end, 20)
  if not ok then
    error(("timed out after %d ms: %s"):format(ms, type(msg) == "function" and msg() or msg or "condition"), 2)
  end
end

--- Record vim.notify calls (level >= min_level) until `stop()`; returns the list and stop.
function M.capture_notify(min_level)
  local seen = {}
  local orig = vim.notify
  vim.notify = function(msg, level, opts)
    level = level or vim.log.levels.INFO
    if level >= (min_level or vim.log.levels.DEBUG) then
      seen[#seen + 1] = { msg = msg, level = level, opts = opts }
    end
  end
  return seen, function()
    vim.notify = orig
  end
end

--- Run `start()` and wait for the next `User <pattern>` event; returns its data.
function M.wait_event(pattern, ms, start)
  local data
  local id = vim.api.nvim_create_autocmd("User", {
    pattern = pattern,
    once = true,
    callback = function(ev)
      data = ev.data
    end,
  })
  start()
  local ok = vim.wait(ms, function()
    return data ~= nil
  end, 20)
  pcall(vim.api.nvim_del_autocmd, id)
  if not ok then
    error(("no %s within %d ms; log:\n%s"):format(pattern, ms, table.concat(require("swictation.log").lines, "\n")), 2)
  end
  return data
end

--- Wait for the next `User SwictationDone` event; returns its data.
function M.wait_done(ms, start)
  return M.wait_event("SwictationDone", ms, start)
end

--- A fresh scratch buffer with `lines`, in the current window, its own undo history.
function M.buffer(lines, filetype)
  vim.cmd("enew!")
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].bufhidden = "wipe"
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  if filetype then
    vim.bo[bufnr].filetype = filetype
  end
  -- Close the undo block of the setup, so `u` in a test undoes only what the plugin did.
  vim.cmd("let &g:undolevels = &g:undolevels")
  return bufnr
end

--- Lowercase words, punctuation dropped.
function M.words(s)
  local words = {}
  for w in s:lower():gsub("[^%w%s']", " "):gmatch("%S+") do
    words[#words + 1] = w
  end
  return words
end

--- Word error rate of `hyp` against `ref` (word lists).
function M.wer(ref, hyp)
  local d = {}
  for i = 0, #ref do
    d[i] = { [0] = i }
  end
  for j = 0, #hyp do
    d[0][j] = j
  end
  for i = 1, #ref do
    for j = 1, #hyp do
      local cost = ref[i] == hyp[j] and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
    end
  end
  return #ref == 0 and (#hyp == 0 and 0 or 1) or d[#ref][#hyp] / #ref
end

-- The real server, as tests/editors/test_neovim.py passes it ------------------------------------

--- Skip unless pytest gave the spec a server Python and a speech clip (SWICTATION_TEST_*).
function M.need_speech_server()
  if not (vim.env.SWICTATION_TEST_PYTHON and vim.env.SWICTATION_TEST_WAV and vim.env.SWICTATION_TEST_TEXT) then
    M.skip("SWICTATION_TEST_PYTHON/WAV/TEXT not set: run through tests/editors/test_neovim.py")
  end
end

--- The plugin's options for the checkout's server (SWICTATION_TEST_PYTHON, _REPO), `extra` merged in.
function M.server_options(extra)
  local repo = vim.env.SWICTATION_TEST_REPO
  return vim.tbl_deep_extend("force", {
    cmd = { vim.env.SWICTATION_TEST_PYTHON, "-m", "swictation_rpc", "serve", "--stdio" },
    cmd_env = repo and { PYTHONPATH = repo } or {},
  }, extra or {})
end

--- Start the plugin's client if need be and wait until the server answered initialize.
function M.ready_client()
  local client = require("swictation.client")
  client.with_client(function() end)
  M.wait(60000, function()
    local c = client.get()
    return c and c.initialized
  end, "the server did not initialize")
  return client.get()
end

--- Run the spec file at `path` and exit nvim: 0 when every test passed (or skipped).
function M.run(path)
  local ok, err = pcall(dofile, path)
  if not ok then
    out("not ok - loading " .. path)
    out("  " .. tostring(err))
    vim.cmd("cquit 1")
    return
  end
  out(("1..%d # %s"):format(#tests, path))
  local failed = 0
  for i, test in ipairs(tests) do
    local started = vim.uv.hrtime()
    local passed, e = xpcall(test.fn, function(x)
      if getmetatable(x) == SKIP then
        return x
      end
      return debug.traceback(tostring(x), 2)
    end)
    local ms = (vim.uv.hrtime() - started) / 1e6
    if passed then
      out(("ok %d - %s (%.0f ms)"):format(i, test.name, ms))
    elseif getmetatable(e) == SKIP then
      out(("ok %d - %s # SKIP %s"):format(i, test.name, e.reason))
    else
      failed = failed + 1
      out(("not ok %d - %s (%.0f ms)"):format(i, test.name, ms))
      for line in tostring(e):gmatch("[^\n]+") do
        out("  # " .. line)
      end
    end
  end
  out(("# %d passed, %d failed"):format(#tests - failed, failed))
  -- Stop servers before leaving, so none outlives the test.
  for _, c in ipairs(vim.lsp.get_clients()) do
    pcall(function()
      if vim.fn.has("nvim-0.11") == 1 then
        c:stop(true)
      else
        c.stop(true)
      end
    end)
  end
  vim.wait(500, function()
    return #vim.lsp.get_clients() == 0
  end, 20)
  if failed > 0 then
    vim.cmd("cquit 1")
  else
    vim.cmd("qall!")
  end
end

return M
