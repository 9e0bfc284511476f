-- Per-phrase commit, announcements, terminal and commit-message buffers, without a server: the
-- requests are answered here with what the server sends (swictation/phraseCommitted, the stop
-- and cancel answers), so the client's side is checked exactly. The real server and microphone
-- run the same paths in dictate_anywhere_spec.lua.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local client = require("swictation.client")
local config = require("swictation.config")
local context = require("swictation.context")
local dictation = require("swictation.dictation")
local marks = require("swictation.marks")
local protocol = require("swictation.protocol")
local sync = require("swictation.sync")

local fake = { id = -1, offset_encoding = "utf-8", initialized = true }

--- Stub the server: requests go to `answer(method, params, cb)` (params built with the fake
--- client); syncing is a no-op. Returns the requests sent and a function that restores.
local function stub_server(answer)
  local sent = {}
  local orig_request, orig_attach = client.request, sync.attach
  client.request = function(method, params, cb)
    if type(params) == "function" then
      params = params(fake)
    end
    sent[#sent + 1] = { method = method, params = params }
    if answer then
      answer(method, params, cb or function() end)
    end
  end
  sync.attach = function()
    return true
  end
  return sent, function()
    client.request, sync.attach = orig_request, orig_attach
  end
end

local function insert_at(pos, text, id)
  return {
    text = vim.trim(text),
    mode = "fast",
    model = "m",
    timings = { audioMs = 1, decodeMs = 1, totalMs = 1 },
    edits = { { range = { start = pos, ["end"] = pos }, newText = text } },
    utteranceId = id,
  }
end

local function after(pos, text)
  return context.position_after(pos, text, "utf-8")
end

local function lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

local function virt_texts(bufnr)
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, { details = true })) do
    if m[4].virt_text then
      out[#out + 1] = { row = m[2], col = m[3], text = m[4].virt_text[1][1] }
    end
  end
  return out
end

--- Start a per-phrase session at the cursor; returns its start position and the stubbed state.
local function start_per_phrase(answer_stop)
  local state = {}
  state.sent, state.restore = stub_server(function(method, params, cb)
    if method == protocol.START_DICTATION then
      state.position = params.position
      state.context = params.context
      cb(nil, { sessionId = "s1", commit = "perPhrase" })
    elseif method == protocol.STOP_DICTATION then
      cb(nil, answer_stop and answer_stop(state) or insert_at(state.next, "", nil))
    elseif method == protocol.CANCEL_DICTATION then
      state.cancel_cb = cb
    else
      cb(nil, {})
    end
  end)
  swictation.start()
  eq("perPhrase", dictation.session.commit)
  state.next = state.position
  return state
end

--- Send a phrase as the server would: after the previous one.
local function phrase(state, text, id)
  local result = insert_at(state.next, text, id)
  state.next = after(state.next, text)
  dictation.on_phrase_committed(nil, { sessionId = "s1", uri = "untitled:x", result = result })
end

local function cleanup(state)
  if dictation.session then
    dictation.session = nil
  end
  state.restore()
  swictation.setup({})
end

it("phrases go in while listening, in order, each its own utterance and undo step", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "say: end" })
  vim.api.nvim_win_set_cursor(0, { 1, 5 })
  local state = start_per_phrase()
  local ok, err = pcall(function()
    eq({ line = 0, character = 5 }, state.position)
    phrase(state, "Hello world.", "u1")
    eq({ "say: Hello world.end" }, lines(bufnr))
    eq(true, dictation.session ~= nil, "still listening")
    -- The open phrase's interim text shows after the phrase already in, not where it began.
    dictation.on_partial(nil, { sessionId = "s1", text = "this is" })
    eq({ { row = 0, col = #"say: Hello world.", text = "this is" } }, virt_texts(bufnr))
    phrase(state, " This is a test.", "u2")
    eq({ "say: Hello world. This is a test.end" }, lines(bufnr))
    eq({}, virt_texts(bufnr), "no interim text once the phrase is in")
    eq("Hello world.", marks.tracked("u1").text)
    eq(" This is a test.", marks.tracked("u2").text)
    -- Stop: the tail is empty, nothing more goes in and no "no speech recognised".
    local seen, stop_notify = t.capture_notify(vim.log.levels.INFO)
    local done = t.wait_done(2000, function()
      swictation.stop()
    end)
    stop_notify()
    eq({}, seen)
    eq(true, done.ok)
    eq(2, done.phrases)
    eq("perPhrase", done.commit)
    eq(nil, dictation.session)
    eq({ "say: Hello world. This is a test.end" }, lines(bufnr))
    -- One `u` per phrase, the last first.
    vim.cmd("normal! u")
    eq({ "say: Hello world.end" }, lines(bufnr))
    vim.cmd("normal! u")
    eq({ "say: end" }, lines(bufnr))
  end)
  cleanup(state)
  assert(ok, err)
end)

it("stop inserts the open phrase's text after the committed ones", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "x" })
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local state = start_per_phrase(function(s)
    return insert_at(s.next, " Tail words.", "u3")
  end)
  local ok, err = pcall(function()
    phrase(state, "First phrase.", "u1")
    local done = t.wait_done(2000, function()
      swictation.stop()
    end)
    eq(true, done.applied)
    eq(1, done.phrases)
    eq({ "First phrase. Tail words.x" }, lines(bufnr))
    eq(" Tail words.", marks.tracked("u3").text)
  end)
  cleanup(state)
  assert(ok, err)
end)

it("a phrase the server placed where it followed the document still goes after the one before", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "", "code" })
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local state = start_per_phrase()
  local ok, err = pcall(function()
    phrase(state, "one", "u1")
    -- The user adds a line above; the server (told by didChange) puts phrase two a line lower.
    vim.api.nvim_buf_set_lines(bufnr, 0, 0, false, { "typed" })
    local pos = { line = state.next.line + 1, character = state.next.character }
    dictation.on_phrase_committed(nil, { sessionId = "s1", uri = "untitled:x", result = insert_at(pos, " two", "u2") })
    eq({ "typed", "", "one twocode" }, lines(bufnr))
  end)
  cleanup(state)
  assert(ok, err)
end)

it("cancel keeps the phrases already in, also one that arrives before the cancel is answered", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "" })
  local state = start_per_phrase()
  local ok, err = pcall(function()
    phrase(state, "Kept.", "u1")
    dictation.on_partial(nil, { sessionId = "s1", text = "dropped" })
    swictation.cancel()
    eq(nil, dictation.session)
    eq({}, virt_texts(bufnr), "the open phrase's interim text is gone at once")
    -- The server committed this one before it saw the cancel: it is in the history, so it goes in.
    phrase(state, " Also kept.", "u2")
    eq({ "Kept. Also kept." }, lines(bufnr))
    state.cancel_cb(nil, { cancelled = true, sessionId = "s1" })
    eq(0, #vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, { type = "virt_text" }))
    local seen, stop_notify = t.capture_notify(vim.log.levels.WARN)
    phrase(state, " late", "u3")
    stop_notify()
    eq({ "Kept. Also kept." }, lines(bufnr), "a phrase of a session already over goes nowhere")
    eq(1, #seen)
    contains(seen[1].msg, "it is in :SwictationHistory")
  end)
  cleanup(state)
  assert(ok, err)
end)

it(":SwictationRestart while listening stops like :SwictationStop (the text goes in), then restarts", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "say: " })
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  local order = {}
  local orig_restart = client.restart
  client.restart = function()
    order[#order + 1] = "restart"
  end
  local state = start_per_phrase(function(s)
    order[#order + 1] = "stop answered"
    return insert_at(s.next, " Hello world.", "u1")
  end)
  local ok, err = pcall(function()
    swictation.restart()
    eq({ "stop answered", "restart" }, order)
    eq({ "say: Hello world. " }, lines(bufnr))
    for _, r in ipairs(state.sent) do
      eq(true, r.method ~= protocol.CANCEL_DICTATION, "the session is not cancelled")
    end
    eq(nil, dictation.session)
  end)
  client.restart = orig_restart
  cleanup(state)
  assert(ok, err)
end)

it("an onStop session inserts everything at stop, as before", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "" })
  local sent, restore = stub_server(function(method, _, cb)
    if method == protocol.START_DICTATION then
      cb(nil, { sessionId = "s2" }) -- an older server: no `commit`
    elseif method == protocol.STOP_DICTATION then
      cb(nil, insert_at({ line = 0, character = 0 }, "all of it", "u9"))
    end
  end)
  local ok, err = pcall(function()
    swictation.start()
    eq("onStop", dictation.session.commit)
    local done = t.wait_done(2000, function()
      swictation.stop()
    end)
    eq(0, done.phrases)
    eq({ "all of it" }, lines(bufnr))
    eq(2, #sent)
  end)
  restore()
  assert(ok, err)
end)

it("applyEdits = server: text the server applied is not inserted again", function()
  swictation.setup({ signals = { announce = false } })
  local bufnr = t.buffer({ "ab" })
  vim.api.nvim_win_set_cursor(0, { 1, 1 })
  local state = start_per_phrase()
  local ok, err = pcall(function()
    -- What workspace/applyEdit did before the notification arrived.
    vim.api.nvim_buf_set_text(bufnr, 0, 1, 0, 1, { " one" })
    local result = insert_at(state.position, " one", "u1")
    result.edits, result.appliedByServer = {}, true
    result.text = "one"
    dictation.on_phrase_committed(nil, { sessionId = "s1", uri = "untitled:x", result = result })
    eq({ "a oneb" }, lines(bufnr))
    dictation.on_partial(nil, { sessionId = "s1", text = "next" })
    eq("next", virt_texts(bufnr)[1].text)
    eq(#"a one", virt_texts(bufnr)[1].col, "the next phrase goes after the server's text")
  end)
  cleanup(state)
  assert(ok, err)
end)

it("inserted text is announced with vim.notify at signals.announce, whatever notify_level says", function()
  swictation.setup({ notify_level = vim.log.levels.ERROR, signals = { announce = vim.log.levels.WARN } })
  t.buffer({ "" })
  local state = start_per_phrase()
  local seen, stop_notify = t.capture_notify(vim.log.levels.DEBUG)
  local ok, err = pcall(function()
    phrase(state, "Hello world.", "u1")
    phrase(state, "\nnext line", "u2")
  end)
  stop_notify()
  cleanup(state)
  assert(ok, err)
  eq(2, #seen)
  eq("Swictation: inserted “Hello world.”", seen[1].msg)
  eq(vim.log.levels.WARN, seen[1].level)
  eq("Swictation: inserted “⏎next line”", seen[2].msg)
end)

it("signals.announce = false announces nothing", function()
  swictation.setup({ signals = { announce = false } })
  t.buffer({ "" })
  local state = start_per_phrase()
  local seen, stop_notify = t.capture_notify(vim.log.levels.DEBUG)
  local ok, err = pcall(function()
    phrase(state, "quiet", "u1")
  end)
  stop_notify()
  cleanup(state)
  assert(ok, err)
  eq({}, seen)
end)

it("signals options are checked; the server's signals.sounds is pointed to settings", function()
  eq(vim.log.levels.INFO, config.resolve({ signals = { announce = "loud" } }).signals.announce)
  local _, msgs = config.resolve({ signals = { announce = "loud" } })
  eq(1, #msgs)
  contains(msgs[1], "option `signals.announce` must be a number")
  eq(true, config.resolve({ signals = { announce = 9 } }).signals.announce == vim.log.levels.INFO)
  eq(false, config.resolve({ signals = { announce = false } }).signals.announce)
  eq(vim.log.levels.INFO, config.resolve({ signals = { announce = true } }).signals.announce)
  _, msgs = config.resolve({ signals = { sounds = false } })
  eq(1, #msgs)
  contains(msgs[1], "did you mean `settings.signals.sounds`?")
  contains(msgs[1], "setup({ settings = { signals = { sounds = false } } })")
  _, msgs = config.resolve({ dictation = { commit = "perPhrase" } })
  eq(1, #msgs)
  contains(msgs[1], "did you mean `settings.dictation`?")
  contains(msgs[1], 'setup({ settings = { dictation = { commit = "perPhrase" } } })')
  -- As server settings they pass through to the server untouched.
  local opts, none =
    config.resolve({ settings = { dictation = { commit = "perPhrase" }, signals = { sounds = false } } })
  eq({}, none)
  eq({ dictation = { commit = "perPhrase" }, signals = { sounds = false } }, opts.settings)
end)

it(":checkhealth names the commit mode, the sounds and the announcement level", function()
  local health = require("swictation.health")
  local shown = {}
  local orig = vim.health
  vim.health = setmetatable({}, {
    __index = function(_, kind)
      return function(msg)
        shown[#shown + 1] = kind .. ": " .. msg
      end
    end,
  })
  local ok, err = pcall(function()
    swictation.setup({ signals = { announce = vim.log.levels.WARN } })
    -- Not yet loaded by the time health.lua captured vim.health: reload it with the stub.
    package.loaded["swictation.health"] = nil
    health = require("swictation.health")
    health.report_signals({ dictation = { commit = "perPhrase" }, signals = { sounds = false } })
    health.report_signals(nil)
  end)
  vim.health = orig
  package.loaded["swictation.health"] = nil
  swictation.setup({})
  assert(ok, err)
  eq({
    "start: swictation: dictation and signals",
    "ok: phrases go in as you speak (dictation.commit = perPhrase, the server's setting)",
    "info: start/stop/error sounds: off (signals.sounds, the server's setting)",
    "ok: inserted text is announced with vim.notify at WARN (signals.announce)",
    "start: swictation: dictation and signals",
    "info: the text goes in when dictation stops (dictation.commit = onStop, the server's default)",
    "info: start/stop/error sounds: on (signals.sounds, the server's default)",
    "ok: inserted text is announced with vim.notify at WARN (signals.announce)",
  }, shown)
end)

it("commit-message buffers are told to the server as gitcommit", function()
  local bufnr = t.buffer({ "", "# Please enter the commit message" }, "gitcommit")
  eq("gitcommit", context.build(bufnr, 0, 0, 0, 0).languageId)
  vim.bo[bufnr].filetype = "NeogitCommitMessage"
  eq("gitcommit", context.build(bufnr, 0, 0, 0, 0).languageId)
end)

--- A terminal buffer running `cat` (it echoes what it reads, line by line) in the current window.
local function terminal_with_cat()
  vim.cmd("enew!")
  local bufnr = vim.api.nvim_get_current_buf()
  local job
  if vim.fn.has("nvim-0.11") == 1 then
    job = vim.fn.jobstart({ "cat" }, { term = true })
  else
    job = vim.fn.termopen({ "cat" })
  end
  assert(job > 0, "could not start cat in a terminal")
  eq("terminal", vim.bo[bufnr].buftype)
  return bufnr, job
end

it("a terminal buffer: the text goes to the job (chansend), never into the buffer's text", function()
  swictation.setup({ signals = { announce = vim.log.levels.INFO } })
  local bufnr, job = terminal_with_cat()
  local state = start_per_phrase()
  local seen, stop_notify = t.capture_notify(vim.log.levels.DEBUG)
  local ok, err = pcall(function()
    eq("terminal", state.context.languageId)
    eq("", state.context.after)
    eq(nil, state.context.identifiers)
    phrase(state, "echo one", "u1")
    phrase(state, " two\n", "u2") -- "press enter": the line is sent
    t.wait(5000, function()
      -- The terminal echoes the typed line and cat prints it again.
      local text = table.concat(lines(bufnr), "\n")
      local _, n = text:gsub("echo one two", "")
      return n >= 2
    end, function()
      return "cat did not get the line: " .. vim.inspect(lines(bufnr))
    end)
  end)
  stop_notify()
  cleanup(state)
  vim.fn.jobstop(job)
  assert(ok, err)
  eq("Swictation: sent to the terminal “echo one”", seen[1] and seen[1].msg)
  eq("Swictation: sent to the terminal “two⏎”", seen[2] and seen[2].msg)
end)

it("'scratch that' in a terminal: one clear sentence, not the server's message naming the job", function()
  swictation.setup({ signals = { announce = false } })
  local _, job = terminal_with_cat()
  local state = start_per_phrase()
  local seen, stop_notify = t.capture_notify(vim.log.levels.INFO)
  local ok, err = pcall(function()
    require("swictation.log").from_server({
      type = 3,
      message = "Swictation: 'scratch that' found no earlier utterance in 25471:bash --norc --noprofile to remove.",
    }, true)
    local result = insert_at(state.next, "", nil)
    result.scratchedUtteranceId = "u0"
    dictation.on_phrase_committed(nil, { sessionId = "s1", uri = "untitled:x", result = result })
  end)
  stop_notify()
  cleanup(state)
  vim.fn.jobstop(job)
  assert(ok, err)
  local msgs = vim.tbl_map(function(n)
    return n.msg
  end, seen)
  eq(1, #msgs, vim.inspect(msgs))
  contains(msgs[1], "'scratch that' and undo are not supported in a terminal")
  eq(nil, msgs[1]:find("25471", 1, true))
end)

it("a terminal buffer is never synced to the server, and undo there says it is not supported", function()
  swictation.setup({})
  local bufnr, job = terminal_with_cat()
  eq(false, sync.attach(fake, bufnr))
  eq("terminal", context.language_id(bufnr))
  local sent, restore = stub_server()
  local seen, stop_notify = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(2000, function()
    swictation.undo()
  end)
  stop_notify()
  restore()
  vim.fn.jobstop(job)
  eq({}, sent, "nothing asked of the server")
  eq(false, done.ok)
  eq(1, #seen)
  contains(seen[1].msg, "undo is not supported in a terminal")
end)

it("an undo the server proposes for text sent to a terminal is refused and the server told", function()
  swictation.setup({})
  local bufnr, job = terminal_with_cat()
  local uri = context.uri(bufnr)
  vim.cmd("enew!")
  local sent, restore = stub_server()
  local seen, stop_notify = t.capture_notify(vim.log.levels.INFO)
  local applied = require("swictation.utterances").apply(fake, "undo", {
    id = "u1",
    uri = uri,
    version = 1,
    edits = { { range = { start = { line = 0, character = 0 }, ["end"] = { line = 0, character = 3 } }, newText = "" } },
  })
  stop_notify()
  restore()
  vim.fn.jobstop(job)
  eq(false, applied)
  eq(1, #seen)
  contains(seen[1].msg, "undo is not supported in a terminal")
  eq(1, #sent)
  eq(
    { utteranceId = "u1", kind = "undo", applied = false, failureReason = seen[1].msg:gsub("^swictation: ", "") },
    sent[1].params
  )
end)

it("a terminal's context is its command line: after the prompt and its blank", function()
  swictation.setup({})
  vim.cmd("enew!")
  local bufnr = vim.api.nvim_get_current_buf()
  local opts = { env = { PS1 = "$ ", ENV = "" } }
  local job
  if vim.fn.has("nvim-0.11") == 1 then
    opts.term = true
    job = vim.fn.jobstart({ "sh" }, opts)
  else
    job = vim.fn.termopen({ "sh" }, opts)
  end
  local ok, err = pcall(function()
    t.wait(10000, function()
      return vim.startswith(vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1], "$")
    end, function()
      return "no prompt: " .. vim.inspect(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
    end)
    local target = marks.capture()
    eq(true, target.terminal)
    local ctx = marks.prepare(target, "utf-8")
    eq({ before = "$ ", after = "", languageId = "terminal" }, ctx)
    vim.fn.chansend(job, "git")
    t.wait(5000, function()
      return vim.api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] == "$ git"
    end, "the typed word did not show")
    target = marks.capture()
    eq("$ git", marks.prepare(target, "utf-8").before, "the server adds the space before the next word")
    marks.release(target)
    -- A blank typed after the word is kept (else the server adds a second one).
    vim.fn.chansend(job, " ")
    vim.wait(500, function()
      return false
    end)
    target = marks.capture()
    eq("$ git ", marks.prepare(target, "utf-8").before, "the blank the user typed")
    marks.release(target)
  end)
  vim.fn.jobstop(job)
  assert(ok, err)
end)
