// A tiny blocking HTTP/1.1 client for the server tests (Beast). Each call
// runs Beast's async operations on a private io_context for at most
// kTimeout, so a broken server fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace outboxd {

struct HttpReply {
  int status = 0;  // 0: no answer (error says why)
  std::string body;
  std::string error;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;

  std::string Header(const std::string& name) const {
    for (const auto& [n, v] : headers) {
      if (boost::beast::iequals(n, name)) return v;
    }
    return "";
  }
};

class TestClient {
 public:
  static constexpr std::chrono::seconds kTimeout{10};

  explicit TestClient(uint16_t port) : socket_(ioc_) {
    boost::system::error_code ec;
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    connected_ = !ec;
  }

  bool connected() const { return connected_; }

  HttpReply Send(const std::string& method, const std::string& target,
                 std::string body = "",
                 std::vector<std::pair<std::string, std::string>> headers = {},
                 unsigned version = 11) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(version);
    req.set(http::field::host, "127.0.0.1");
    for (auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    req.prepare_payload();
    boost::beast::error_code ec = boost::asio::error::timed_out;
    http::async_write(socket_, req,
                      [&ec](boost::beast::error_code e, size_t) { ec = e; });
    Run();
    if (ec) return Failure("write: " + ec.message());
    return Read();
  }

  // Writes raw bytes (a hand-made request, or part of one).
  bool WriteRaw(const std::string& bytes) {
    boost::beast::error_code ec = boost::asio::error::timed_out;
    boost::asio::async_write(socket_, boost::asio::buffer(bytes),
                             [&ec](boost::beast::error_code e, size_t) { ec = e; });
    Run();
    return !ec;
  }

  // Reads one response (an interim 1xx response counts as one).
  HttpReply Read() {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    boost::beast::error_code ec = boost::asio::error::timed_out;
    http::async_read(socket_, buffer_, parser,
                     [&ec](boost::beast::error_code e, size_t) { ec = e; });
    Run();
    if (ec) return Failure("read: " + ec.message());
    http::response<http::string_body> res = parser.release();
    HttpReply reply;
    reply.status = static_cast<int>(res.result_int());
    reply.body = std::move(res.body());
    reply.keep_alive = res.keep_alive();
    for (const auto& field : res) {
      reply.headers.emplace_back(std::string(field.name_string()),
                                 std::string(field.value()));
    }
    return reply;
  }

  // Ends what this side sends (a FIN), keeping the read side open.
  void ShutdownSend() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }

  // True when the server closes the connection (EOF or reset) in time.
  bool ServerClosed() {
    char c;
    boost::beast::error_code ec = boost::asio::error::timed_out;
    socket_.async_read_some(boost::asio::buffer(&c, 1),
                            [&ec](boost::beast::error_code e, size_t) { ec = e; });
    Run();
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

 private:
  static HttpReply Failure(std::string error) {
    HttpReply reply;
    reply.error = std::move(error);
    return reply;
  }

  // Runs the pending operation; on timeout cancels it (its handler then
  // runs with operation_aborted, which callers treat as a failure).
  void Run() {
    ioc_.restart();
    ioc_.run_for(kTimeout);
    if (!ioc_.stopped()) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      ioc_.restart();
      ioc_.run();
    }
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace outboxd
