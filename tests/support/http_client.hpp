#pragma once
// The tests' HTTP/1.1 client over a plain loopback socket with send and receive timeouts (a hung
// server fails a test, never hangs it), and a raw connection for bytes no client library sends.

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace market::testing {

using Headers = std::map<std::string, std::string>;

struct Reply {
  int status = 0;     // 0: no answer (error says why)
  std::string error;  // transport error
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::chrono::milliseconds elapsed{0};

  bool answered() const { return status != 0; }
  nlohmann::json Json() const;  // the body as JSON (fails the test if it is not)
  int Code() const;             // the envelope's "code" (fails the test if there is none)
  // As above without assertions (safe on any thread): discarded JSON, or -1, when the body is
  // not JSON or not an envelope.
  nlohmann::json TryJson() const;
  int TryCode() const;
  std::string Header(const std::string& lower_name) const;  // "" when absent
};

// A connected loopback socket with send and receive timeouts; `from` picks the client address
// (127.0.0.2 is another client to the server).
class RawConnection {
 public:
  RawConnection() = default;  // not connected
  explicit RawConnection(int port, std::chrono::milliseconds timeout = std::chrono::seconds(30),
                         const std::string& from = "127.0.0.1");
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;

  bool connected() const { return fd_ >= 0; }
  // False when the peer is gone or the send timed out.
  bool Write(std::string_view bytes);
  // Appends what arrives next; false on end of stream, error or timeout (`error` says which).
  bool ReadMore(std::string& buffer, std::string& error);
  // Everything until the server closes the connection (or an error or the timeout).
  std::string ReadAll();
  // Whether something (bytes, end of stream, an error) can be read within `wait`.
  bool Readable(std::chrono::milliseconds wait) const;
  void Close();

 private:
  int fd_ = -1;
};

// The parts of HTTP/1.1 the client and the tests' own small servers share.
struct MessageHead {
  int status = 0;  // 0 for a request's head
  std::map<std::string, std::string> headers;  // lower-case names
};
MessageHead ParseHead(const std::string& head);
std::string Lower(std::string text);
// Without the spaces, tabs and line ends around it.
std::string Trim(std::string text);
// Decodes a complete chunked body at the start of `data`; nullopt while incomplete.
std::optional<std::string> Dechunk(const std::string& data);
bool WriteAll(int fd, std::string_view data);
// Appends what arrives next on `fd`; false on end of stream, error or timeout (`error` says which).
bool ReadMore(int fd, std::string& buffer, std::string& error);

// Sends `bytes` on a fresh connection and returns all that comes back until the server closes it.
std::string Exchange(int port, std::string_view bytes,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

// One keep-alive connection, made by the constructor; reconnects on the next request after the
// server closed it. A connection that fails is a Reply with status 0.
class HttpClient {
 public:
  explicit HttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(30),
                      std::string from = "127.0.0.1");

  Reply Send(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& content_type = "", const Headers& headers = {});
  Reply Request(boost::beast::http::verb method, const std::string& target,
                const std::string& body = "", const std::string& content_type = "",
                const Headers& headers = {});
  Reply Get(const std::string& target, const Headers& headers = {}) {
    return Send("GET", target, "", "", headers);
  }
  Reply PostJson(const std::string& target, const nlohmann::json& body,
                 const Headers& headers = {}) {
    return Send("POST", target, body.dump(), "application/json", headers);
  }
  Reply PostForm(const std::string& target, const std::string& body, const Headers& headers = {}) {
    return Send("POST", target, body, "application/x-www-form-urlencoded", headers);
  }
  // Sends a GET and reads only the head of the answer: a stream stays open behind it. An answer
  // other than 200 is short and read whole.
  Reply GetHead(const std::string& target, const Headers& headers = {});

  bool Connect();  // connects now (true when connected)
  bool connected() const { return conn_.connected(); }
  int reconnects() const { return reconnects_; }
  // Whether the server has closed this connection (it reads end of stream within `wait`).
  bool ClosedByServer(std::chrono::milliseconds wait);
  void Close() { conn_.Close(); }

 private:
  Reply Exchange(const std::string& method, const std::string& target, const std::string& body,
                 const std::string& content_type, const Headers& headers, bool head_only);

  int port_;
  std::chrono::milliseconds timeout_;
  std::string from_;
  RawConnection conn_;
  int reconnects_ = -1;  // the first connect is not a reconnect
};

// A one-request helper on a fresh connection.
Reply Call(int port, boost::beast::http::verb method, const std::string& target,
           const std::string& body = "", const std::string& content_type = "",
           const Headers& headers = {});

// "Basic <base64 of user:password>", an Authorization header's value.
std::string BasicAuthorization(const std::string& user, const std::string& password);

std::string UrlEncode(std::string_view text);

}  // namespace market::testing
