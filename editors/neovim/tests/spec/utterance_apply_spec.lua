-- The one apply path for edits of earlier utterances (utterances.lua), without a server: every
-- refusal is one message, changes nothing, and tells the server (swictation/utteranceEditApplied).
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local client = require("swictation.client")
local context = require("swictation.context")
local marks = require("swictation.marks")
local sync = require("swictation.sync")
local utterances = require("swictation.utterances")

local fake = { id = -1, offset_encoding = "utf-8" }

--- Run `fn` with the server's requests recorded (none is sent) and sync.version stubbed.
local function with_stubs(version, fn)
  local sent = {}
  local orig_request, orig_version = client.request, sync.version
  client.request = function(method, params)
    sent[#sent + 1] = { method = method, params = params }
  end
  sync.version = function()
    return version
  end
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local ok, err = pcall(fn)
  stop()
  client.request, sync.version = orig_request, orig_version
  assert(ok, err)
  return seen, sent
end

local function undo_answer(bufnr, version, range)
  return {
    id = "u1",
    uri = context.uri(bufnr),
    version = version,
    edits = { { range = range, newText = "" } },
  }
end

local function r(sl, sc, el, ec)
  return { start = { line = sl, character = sc }, ["end"] = { line = el, character = ec } }
end

it("a reason from the server is one message; nothing applied, nothing confirmed", function()
  local bufnr = t.buffer({ "keep this" })
  local seen, sent = with_stubs(3, function()
    local applied = utterances.apply(fake, "undo", {
      id = "u1",
      uri = context.uri(bufnr),
      reason = "changed",
      message = "The utterance was edited in x.py since it was dictated, so Swictation left it as it is.",
    })
    eq(false, applied)
  end)
  eq(1, #seen)
  contains(seen[1].msg, "was edited")
  eq({}, sent)
  eq({ "keep this" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

it("a version mismatch is one message; nothing applied; the server is told", function()
  local bufnr = t.buffer({ "keep this" })
  local seen, sent = with_stubs(5, function()
    eq(false, utterances.apply(fake, "undo", undo_answer(bufnr, 4, r(0, 0, 0, 4))))
  end)
  eq(1, #seen)
  contains(seen[1].msg, "changed since Swictation checked")
  eq({ "keep this" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  eq(1, #sent)
  eq("swictation/utteranceEditApplied", sent[1].method)
  eq(
    { utteranceId = "u1", kind = "undo", applied = false, failureReason = seen[1].msg:gsub("^swictation: ", "") },
    sent[1].params
  )
end)

it("a range past the end of the buffer is refused", function()
  local bufnr = t.buffer({ "short" })
  local seen = with_stubs(2, function()
    eq(false, utterances.apply(fake, "undo", undo_answer(bufnr, 2, r(0, 2, 0, 40))))
    eq(false, utterances.apply(fake, "undo", undo_answer(bufnr, 2, r(3, 0, 3, 1))))
  end)
  eq(2, #seen)
  eq({ "short" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

it("a Lua error while applying becomes a handled refusal with a message", function()
  local bufnr = t.buffer({ "keep this" })
  vim.bo[bufnr].modifiable = false
  local seen, sent = with_stubs(2, function()
    eq(false, utterances.apply(fake, "undo", undo_answer(bufnr, 2, r(0, 0, 0, 5))))
  end)
  vim.bo[bufnr].modifiable = true
  eq(1, #seen)
  contains(seen[1].msg, "could not change")
  eq(false, sent[1].params.applied)
  eq({ "keep this" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

it("the edit lands in the buffer the uri names, not the current one; an untrusted extmark is ignored", function()
  local target = t.buffer({ "one two three" })
  vim.bo[target].bufhidden = "hide"
  marks.track("u1", target, 0, 4, "two ")
  -- The user typed inside the utterance: its extmark is no longer trusted.
  vim.api.nvim_buf_set_text(target, 0, 5, 0, 5, { "X" })
  eq(nil, marks.tracked("u1"))
  vim.api.nvim_buf_set_text(target, 0, 5, 0, 6, {})
  t.truthy(marks.tracked("u1"), "trusted again once the text under it is the utterance's text")
  local current = t.buffer({ "one two three" })
  local seen, sent = with_stubs(9, function()
    eq(true, utterances.apply(fake, "undo", undo_answer(target, 9, r(0, 4, 0, 8))))
  end)
  eq(current, vim.api.nvim_get_current_buf())
  eq({ "one two three" }, vim.api.nvim_buf_get_lines(current, 0, -1, false))
  eq({ "one three" }, vim.api.nvim_buf_get_lines(target, 0, -1, false))
  eq(true, sent[1].params.applied)
  eq(1, #seen, "says where the edit went, as that buffer is in no window")
  eq(nil, marks.tracked("u1"), "forgotten once undone")
end)
