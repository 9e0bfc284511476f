---@mod swictation.sync The buffers the plugin dictates into, synced to the server
---
--- The server checks every edit of an earlier utterance (undo, retranscribe, refine) against the
--- document as it is now, so each buffer the plugin dictates into (or edits an utterance in) is
--- attached to the client: textDocument/didOpen, incremental didChange, didClose.
--- Buffers with a file name go through vim.lsp.buf_attach_client (their uri is the file's, and
--- the version is vim.lsp.util.buf_versions, as the client sends it). Buffers without a name
--- (`:enew`) have no uri vim.lsp can send, so they are synced here under the `untitled:` uri the
--- server is told (context.uri), with the same incremental diff vim.lsp uses (vim.lsp.sync) and
--- 'changedtick' as the version.

local context = require("swictation.context")
local log = require("swictation.log")
local lsp_sync = require("vim.lsp.sync")

local M = {}

local methods = vim.lsp.protocol.Methods
local has_011 = vim.fn.has("nvim-0.11") == 1

---@class swictation.OwnSync
---@field client_id integer
---@field uri string
---@field lines string[] the text as last sent
---@field version integer the version last sent

--- Unnamed buffers synced here, by bufnr.
---@type table<integer, swictation.OwnSync>
local own = {}

local function notify(c, method, params)
  if has_011 then
    return c:notify(method, params)
  end
  return c.notify(method, params)
end

local function stopped(c)
  if not c then
    return true
  end
  if has_011 then
    return c:is_stopped()
  end
  return c.is_stopped()
end

--- Whether vim.lsp can name `bufnr` (a file buffer with a name): it syncs those itself.
---@param bufnr integer
local function named(bufnr)
  return vim.bo[bufnr].buftype == "" and vim.api.nvim_buf_get_name(bufnr) ~= ""
end

local function full_text(bufnr, lines)
  local text = table.concat(lines, "\n")
  if vim.bo[bufnr].eol then
    text = text .. "\n"
  end
  return text
end

local function open(c, bufnr, st)
  notify(c, methods.textDocument_didOpen, {
    textDocument = {
      uri = st.uri,
      languageId = context.language_id(bufnr) or "plaintext",
      version = st.version,
      text = full_text(bufnr, st.lines),
    },
  })
end

local function own_attach(c, bufnr)
  local st = own[bufnr]
  if st and st.client_id == c.id then
    return true
  end
  st = {
    client_id = c.id,
    uri = context.uri(bufnr),
    lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true),
    version = vim.api.nvim_buf_get_changedtick(bufnr),
  }
  own[bufnr] = st
  open(c, bufnr, st)
  local function current()
    local client = vim.lsp.get_client_by_id(st.client_id)
    if own[bufnr] ~= st or stopped(client) then
      if own[bufnr] == st then
        own[bufnr] = nil
      end
      return nil
    end
    return client
  end
  vim.api.nvim_buf_attach(bufnr, false, {
    on_lines = function(_, buf, tick, first, last, new_last)
      local client = current()
      if not client then
        return true -- detach: another client (or none) syncs it now
      end
      -- Never break the user's edit: a failure stops syncing this buffer (the server then
      -- refuses edits of its utterances as not synced, and says so).
      local ok, err = pcall(function()
        local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
        local change = lsp_sync.compute_diff(st.lines, lines, first, last, new_last, client.offset_encoding, "\n")
        st.lines, st.version = lines, tick
        notify(client, methods.textDocument_didChange, {
          textDocument = { uri = st.uri, version = tick },
          contentChanges = { change },
        })
      end)
      if not ok then
        log.debug(("stopped syncing buffer %d: %s"):format(buf, tostring(err)))
        own[buf] = nil
        pcall(notify, client, methods.textDocument_didClose, { textDocument = { uri = st.uri } })
        return true
      end
    end,
    on_reload = function(_, buf)
      local client = current()
      if client then
        notify(client, methods.textDocument_didClose, { textDocument = { uri = st.uri } })
        st.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
        st.version = vim.api.nvim_buf_get_changedtick(buf)
        open(client, buf, st)
      end
    end,
    on_detach = function()
      local client = current()
      if client then
        notify(client, methods.textDocument_didClose, { textDocument = { uri = st.uri } })
      end
      if own[bufnr] == st then
        own[bufnr] = nil
      end
    end,
  })
  return true
end

--- Sync `bufnr` to client `c` (didOpen now, didChange from now on). A no-op once attached;
--- terminal buffers are never synced.
---@param c vim.lsp.Client an initialized client
---@param bufnr integer
---@return boolean attached
function M.attach(c, bufnr)
  if not c or not vim.api.nvim_buf_is_loaded(bufnr) then
    return false
  end
  if context.is_terminal(bufnr) then
    -- Its text is the job's output, rewritten as the job runs: dictated text goes to the job,
    -- not into the buffer, so there is nothing the server could check.
    return false
  end
  if named(bufnr) then
    return vim.lsp.buf_attach_client(bufnr, c.id)
  end
  return own_attach(c, bufnr)
end

--- The version of `bufnr` the server has from client `c`, or nil when `c` does not sync it.
---@param c vim.lsp.Client
---@param bufnr integer
---@return integer?
function M.version(c, bufnr)
  if not c or not vim.api.nvim_buf_is_valid(bufnr) then
    return nil
  end
  if named(bufnr) then
    if vim.lsp.buf_is_attached(bufnr, c.id) then
      return vim.lsp.util.buf_versions[bufnr]
    end
    return nil
  end
  local st = own[bufnr]
  if st and st.client_id == c.id then
    return st.version
  end
  return nil
end

--- Whether client `c` syncs `bufnr`.
function M.is_attached(c, bufnr)
  return M.version(c, bufnr) ~= nil
end

return M
