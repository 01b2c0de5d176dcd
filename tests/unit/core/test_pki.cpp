#include "sim/core/pki.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sim/core/sha256.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::pki;
namespace fs = std::filesystem;
using fleetsim::test::TempDir;

namespace {

// Shared fixtures: one CA, a second CA with a different name and a third with the *same* name as the first
// (so "different CA" cannot pass by a name lookup), and a server and client certificate from the first.
struct Fixture {
  CertifiedKey ca = create_ca("fleetsim test CA").value();
  CertifiedKey other_ca = create_ca("some other CA").value();
  CertifiedKey impostor_ca = create_ca("fleetsim test CA").value();
  CertifiedKey server = issue_server_certificate(ca.certificate, ca.key, "broker", {"localhost", "127.0.0.1", "::1"}).value();
  CertifiedKey client = issue_client_certificate(ca.certificate, ca.key, "sensor-0001").value();
  CertifiedKey foreign_client = issue_client_certificate(other_ca.certificate, other_ca.key, "sensor-0001").value();
  CertifiedKey impostor_client = issue_client_certificate(impostor_ca.certificate, impostor_ca.key, "sensor-0001").value();
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// Set one field at a time: GCC 12 warns (-Wmissing-field-initializers) on designated initializers that omit the
// last member.
IssueOptions valid_for(Millis validity) {
  IssueOptions o;
  o.validity = validity;
  return o;
}

EpochMillis now_millis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// X509_verify_cert of `cert` against a store holding only `ca`; X509_V_OK on success.
int verify(const Certificate& cert, const Certificate& ca, int purpose) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  REQUIRE(X509_STORE_add_cert(store.get(), ca.get()) == 1);
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) == 1);
  REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
  const int ok = X509_verify_cert(ctx.get());
  const int error = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok == 1) CHECK(error == X509_V_OK);
  return ok == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

bool critical(const Certificate& cert, int nid) {
  const int index = X509_get_ext_by_NID(cert.get(), nid, -1);
  REQUIRE(index >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(cert.get(), index)) == 1;
}

unsigned file_mode(const fs::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

struct FileId {
  ino_t inode;
  long long mtime_ns;
  bool operator==(const FileId&) const = default;
};
FileId file_id(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return {st.st_ino, static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::vector<std::string> directory_entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ----------------------------------------------------------------------------------------------------------------
// An in-memory TLS connection (a BIO pair), so the test proves the certificates work for mutual TLS without a socket.

using SslCtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;

struct Endpoint {
  const CertifiedKey* identity = nullptr;  ///< the certificate this side presents (none if null)
  const Certificate* trusts = nullptr;     ///< the only CA this side accepts
};

SslCtxPtr make_ctx(const Endpoint& e, bool server, int max_version) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  REQUIRE(ctx);
  REQUIRE(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(ctx.get(), max_version) == 1);
  if (e.identity) {
    REQUIRE(SSL_CTX_use_certificate(ctx.get(), e.identity->certificate.get()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx.get(), e.identity->key.get()) == 1);
    REQUIRE(SSL_CTX_check_private_key(ctx.get()) == 1);
  }
  REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), e.trusts->get()) == 1);
  // What mosquitto does with require_certificate true: the client must present a certificate that verifies.
  SSL_CTX_set_verify(ctx.get(), server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, nullptr);
  return ctx;
}

struct TlsOutcome {
  bool connected = false;         ///< both handshakes finished and application data went both ways
  long client_verify = X509_V_OK; ///< the client's verdict on the server certificate
  long server_verify = X509_V_OK; ///< the server's verdict on the client certificate
  std::string client_cn_at_server;
  std::string version;
};

/// `expected_peer` is what the client checks the server's certificate against: an IP address or a host name.
TlsOutcome tls_handshake(const Endpoint& server_side, const Endpoint& client_side, const std::string& expected_peer,
                         int max_version = TLS1_3_VERSION) {
  SslCtxPtr server_ctx = make_ctx(server_side, true, max_version);
  SslCtxPtr client_ctx = make_ctx(client_side, false, max_version);
  SslPtr server(SSL_new(server_ctx.get()), SSL_free);
  SslPtr client(SSL_new(client_ctx.get()), SSL_free);
  REQUIRE(server);
  REQUIRE(client);
  if (expected_peer.find_first_not_of("0123456789.:abcdef") != std::string::npos) {
    REQUIRE(SSL_set1_host(client.get(), expected_peer.c_str()) == 1);
    REQUIRE(SSL_set_tlsext_host_name(client.get(), expected_peer.c_str()) == 1);
  } else {
    REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(client.get()), expected_peer.c_str()) == 1);
  }
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  REQUIRE(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) == 1);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  enum class State { running, done, failed };
  auto step = [](SSL* ssl, State& state) {
    if (state != State::running) return;
    const int r = SSL_do_handshake(ssl);
    if (r == 1) {
      state = State::done;
    } else {
      const int e = SSL_get_error(ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) state = State::failed;
    }
  };
  State c = State::running, s = State::running;
  for (int round = 0; round < 50 && (c == State::running || s == State::running); ++round) {
    step(client.get(), c);
    step(server.get(), s);
  }
  ERR_clear_error();

  TlsOutcome out;
  out.client_verify = SSL_get_verify_result(client.get());
  out.server_verify = SSL_get_verify_result(server.get());
  out.version = SSL_get_version(client.get());
  if (c != State::done || s != State::done) return out;
  if (X509* peer = SSL_get0_peer_certificate(server.get())) {
    X509_up_ref(peer);
    out.client_cn_at_server = Certificate(peer).common_name();
  }
  // In TLS 1.3 the client finishes before the server has judged its certificate, so only data proves success.
  char buffer[16] = {};
  const bool client_to_server = SSL_write(client.get(), "ping", 4) == 4 && SSL_read(server.get(), buffer, 16) == 4 &&
                                std::string(buffer, 4) == "ping";
  const bool server_to_client = SSL_write(server.get(), "pong", 4) == 4 && SSL_read(client.get(), buffer, 16) == 4 &&
                                std::string(buffer, 4) == "pong";
  ERR_clear_error();
  out.connected = client_to_server && server_to_client;
  return out;
}

}  // namespace

// ----------------------------------------------------------------------------------------------------------------
// What the certificates say

TEST_CASE("create_ca makes a self-signed P-256 CA", "[pki]") {
  const auto& f = fixture();
  const Certificate& ca = f.ca.certificate;
  CHECK(ca.common_name() == "fleetsim test CA");
  CHECK(ca.is_ca());
  CHECK(X509_check_ca(ca.get()) == 1);
  CHECK(critical(ca, NID_basic_constraints));
  CHECK(critical(ca, NID_key_usage));
  CHECK(X509_get_key_usage(ca.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  REQUIRE(X509_get0_subject_key_id(ca.get()) != nullptr);
  REQUIRE(X509_get0_authority_key_id(ca.get()) != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(ca.get()), X509_get0_subject_key_id(ca.get())) == 0);
  CHECK(X509_get_version(ca.get()) == X509_VERSION_3);
  CHECK(X509_get_signature_nid(ca.get()) == NID_ecdsa_with_SHA256);
  CHECK(X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_get_issuer_name(ca.get())) == 0);
  CHECK(X509_verify(ca.get(), f.ca.key.get()) == 1);  // self-signed with its own key
  CHECK(ca.matches(f.ca.key));
  CHECK_FALSE(ca.matches(f.other_ca.key));

  CHECK(EVP_PKEY_is_a(f.ca.key.get(), "EC") == 1);
  char group[64] = {};
  REQUIRE(EVP_PKEY_get_group_name(f.ca.key.get(), group, sizeof group, nullptr) == 1);
  CHECK(std::string(group) == "prime256v1");

  const EpochMillis now = now_millis();
  CHECK(ca.not_before() <= now);
  CHECK(ca.not_before() >= now - 10 * 60'000);  // backdated minutes, not days
  const EpochMillis ten_years = std::chrono::duration_cast<std::chrono::milliseconds>(default_ca_validity).count();
  CHECK(std::abs(ca.not_after() - (now + ten_years)) < 60'000);
  CHECK(verify(ca, ca, X509_PURPOSE_ANY) == X509_V_OK);
}

TEST_CASE("a server certificate carries its SANs and serverAuth", "[pki]") {
  const auto& f = fixture();
  const Certificate& cert = f.server.certificate;
  CHECK(cert.common_name() == "broker");
  CHECK(cert.subject_alt_names() == std::vector<std::string>{"localhost", "127.0.0.1", "::1"});
  CHECK_FALSE(cert.is_ca());
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK((X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE) != 0);
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_SERVER);
  CHECK(X509_get_key_usage(cert.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(f.ca.certificate.get())) == 0);
  REQUIRE(X509_get0_authority_key_id(cert.get()) != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()), X509_get0_subject_key_id(f.ca.certificate.get())) == 0);
  CHECK(X509_get0_subject_key_id(cert.get()) != nullptr);
  CHECK(X509_check_host(cert.get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  CHECK(X509_check_host(cert.get(), "example.com", 0, 0, nullptr) == 0);

  const EpochMillis now = now_millis();
  const EpochMillis five_years = std::chrono::duration_cast<std::chrono::milliseconds>(default_leaf_validity).count();
  CHECK(cert.not_before() <= now);
  CHECK(std::abs(cert.not_after() - (now + five_years)) < 60'000);
}

TEST_CASE("a client certificate names the thing and allows clientAuth only", "[pki]") {
  const auto& f = fixture();
  const Certificate& cert = f.client.certificate;
  CHECK(cert.common_name() == "sensor-0001");
  CHECK(cert.subject_alt_names().empty());
  CHECK_FALSE(cert.is_ca());
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_CLIENT);
  CHECK(critical(cert, NID_basic_constraints));
  CHECK(cert.matches(f.client.key));
  CHECK_FALSE(cert.matches(f.server.key));
  CHECK(cert.not_before() <= now_millis());
  CHECK(cert.not_after() > now_millis());
}

TEST_CASE("serial numbers are random, positive and at most 128 bits", "[pki]") {
  const auto& f = fixture();
  std::set<std::string> serials;
  for (int i = 0; i < 50; ++i) {
    auto issued = issue_client_certificate(f.ca.certificate, f.ca.key, "thing-" + std::to_string(i), {.key = f.client.key});
    REQUIRE(issued);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(issued->certificate.get());
    CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);  // not V_ASN1_NEG_INTEGER
    const std::string hex = issued->certificate.serial_hex();
    CHECK(!hex.empty());
    CHECK(hex.size() <= 32);
    CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    serials.insert(hex);
  }
  CHECK(serials.size() == 50);
}

TEST_CASE("a leaf never outlives its CA", "[pki]") {
  auto short_ca = create_ca("short-lived CA", std::chrono::hours(24));
  REQUIRE(short_ca);
  auto leaf = issue_client_certificate(short_ca->certificate, short_ca->key, "t", valid_for(std::chrono::days(30)));
  REQUIRE(leaf);
  CHECK(leaf->certificate.not_after() == short_ca->certificate.not_after());
  auto shorter = issue_client_certificate(short_ca->certificate, short_ca->key, "t", valid_for(std::chrono::hours(1)));
  REQUIRE(shorter);
  CHECK(std::abs(shorter->certificate.not_after() - (now_millis() + 3'600'000)) < 60'000);
}

TEST_CASE("RSA 2048 keys can be issued too", "[pki]") {
  const auto& f = fixture();
  IssueOptions options;
  options.algorithm = KeyAlgorithm::rsa_2048;
  auto rsa = issue_client_certificate(f.ca.certificate, f.ca.key, "rsa-thing", options);
  REQUIRE(rsa);
  CHECK(EVP_PKEY_is_a(rsa->key.get(), "RSA") == 1);
  CHECK(EVP_PKEY_get_bits(rsa->key.get()) == 2048);
  CHECK(X509_get_key_usage(rsa->certificate.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  CHECK(verify(rsa->certificate, f.ca.certificate, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  auto tls = tls_handshake({&f.server, &f.ca.certificate}, {&*rsa, &f.ca.certificate}, "localhost");
  CHECK(tls.connected);
  CHECK(tls.client_cn_at_server == "rsa-thing");
}

// ----------------------------------------------------------------------------------------------------------------
// Chain verification

TEST_CASE("certificates chain to their CA and to no other", "[pki]") {
  const auto& f = fixture();
  CHECK(verify(f.server.certificate, f.ca.certificate, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
  CHECK(verify(f.client.certificate, f.ca.certificate, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);

  CHECK(verify(f.server.certificate, f.other_ca.certificate, X509_PURPOSE_SSL_SERVER) ==
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK(verify(f.client.certificate, f.other_ca.certificate, X509_PURPOSE_SSL_CLIENT) ==
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  // Same CA name, different key: the name matches, the key identifiers and the signature do not.
  CHECK(verify(f.client.certificate, f.impostor_ca.certificate, X509_PURPOSE_SSL_CLIENT) != X509_V_OK);
  CHECK(verify(f.impostor_client.certificate, f.ca.certificate, X509_PURPOSE_SSL_CLIENT) != X509_V_OK);
}

TEST_CASE("extended key usage keeps client and server certificates apart", "[pki]") {
  const auto& f = fixture();
  CHECK(verify(f.server.certificate, f.ca.certificate, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_INVALID_PURPOSE);
  CHECK(verify(f.client.certificate, f.ca.certificate, X509_PURPOSE_SSL_SERVER) == X509_V_ERR_INVALID_PURPOSE);
}

// ----------------------------------------------------------------------------------------------------------------
// Mutual TLS

TEST_CASE("mutual TLS works with these certificates", "[pki][tls]") {
  const auto& f = fixture();
  const Endpoint server{&f.server, &f.ca.certificate};
  const Endpoint client{&f.client, &f.ca.certificate};

  SECTION("TLS 1.3 to an IPv4 address") {
    auto tls = tls_handshake(server, client, "127.0.0.1");
    CHECK(tls.connected);
    CHECK(tls.version == "TLSv1.3");
    CHECK(tls.client_verify == X509_V_OK);
    CHECK(tls.server_verify == X509_V_OK);
    CHECK(tls.client_cn_at_server == "sensor-0001");
  }
  SECTION("TLS 1.3 to an IPv6 address") { CHECK(tls_handshake(server, client, "::1").connected); }
  SECTION("TLS 1.3 to localhost") { CHECK(tls_handshake(server, client, "localhost").connected); }
  SECTION("TLS 1.2 to localhost") {
    auto tls = tls_handshake(server, client, "localhost", TLS1_2_VERSION);
    CHECK(tls.connected);
    CHECK(tls.version == "TLSv1.2");
    CHECK(tls.client_cn_at_server == "sensor-0001");
  }
}

TEST_CASE("mutual TLS fails when either side is not vouched for", "[pki][tls]") {
  const auto& f = fixture();
  const Endpoint server{&f.server, &f.ca.certificate};

  // Each case under TLS 1.3 and 1.2: in 1.3 the client finishes before the server rejects it, in 1.2 it does not.
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    DYNAMIC_SECTION("a client certificate from another CA, max version " << version) {
      auto tls = tls_handshake(server, {&f.foreign_client, &f.ca.certificate}, "localhost", version);
      CHECK_FALSE(tls.connected);
      CHECK(tls.server_verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    }
    DYNAMIC_SECTION("a client certificate from a CA with the same name but another key, max version " << version) {
      auto tls = tls_handshake(server, {&f.impostor_client, &f.ca.certificate}, "localhost", version);
      CHECK_FALSE(tls.connected);
      CHECK(tls.server_verify != X509_V_OK);
    }
    DYNAMIC_SECTION("no client certificate, max version " << version) {
      CHECK_FALSE(tls_handshake(server, {nullptr, &f.ca.certificate}, "localhost", version).connected);
    }
    DYNAMIC_SECTION("a client that trusts another CA, max version " << version) {
      auto tls = tls_handshake(server, {&f.client, &f.other_ca.certificate}, "localhost", version);
      CHECK_FALSE(tls.connected);
      // The server sends its CA along (OpenSSL completes the chain from its store); the client does not trust it.
      CHECK(tls.client_verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
    }
    DYNAMIC_SECTION("a host name not in the SANs, max version " << version) {
      auto tls = tls_handshake(server, {&f.client, &f.ca.certificate}, "broker.example.com", version);
      CHECK_FALSE(tls.connected);
      CHECK(tls.client_verify == X509_V_ERR_HOSTNAME_MISMATCH);
    }
    DYNAMIC_SECTION("a client certificate used as a server certificate, max version " << version) {
      auto tls = tls_handshake({&f.client, &f.ca.certificate}, {&f.client, &f.ca.certificate}, "localhost", version);
      CHECK_FALSE(tls.connected);
      CHECK(tls.client_verify == X509_V_ERR_INVALID_PURPOSE);
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// PEM and fingerprints

TEST_CASE("PEM round trips keep certificates and keys intact", "[pki]") {
  const auto& f = fixture();
  const std::string cert_pem = f.client.certificate.to_pem();
  const std::string key_pem = f.client.key.to_pem();
  CHECK(cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
  CHECK(key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));

  auto cert = Certificate::from_pem(cert_pem);
  REQUIRE(cert);
  auto key = KeyPair::from_pem(key_pem);
  REQUIRE(key);
  CHECK(cert->fingerprint_sha256() == f.client.certificate.fingerprint_sha256());
  CHECK(cert->to_pem() == cert_pem);
  CHECK(cert->serial_hex() == f.client.certificate.serial_hex());
  CHECK(cert->common_name() == "sensor-0001");
  CHECK(cert->not_after() == f.client.certificate.not_after());
  CHECK(key->to_pem() == key_pem);
  CHECK(cert->matches(*key));
  CHECK(X509_cmp(cert->get(), f.client.certificate.get()) == 0);

  // Traditional (SEC1) EC keys, as `openssl ecparam -genkey` writes them, load too.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  REQUIRE(PEM_write_bio_PrivateKey_traditional(bio.get(), f.client.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  const std::string sec1(data, static_cast<std::size_t>(n));
  CHECK(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
  auto from_sec1 = KeyPair::from_pem(sec1);
  REQUIRE(from_sec1);
  CHECK(f.client.certificate.matches(*from_sec1));
}

TEST_CASE("fingerprints are stable SHA-256 of the DER", "[pki]") {
  const auto& f = fixture();
  const std::string fp = f.client.certificate.fingerprint_sha256();
  CHECK(fp.size() == 64);
  CHECK(fp.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(f.client.certificate.fingerprint_sha256() == fp);
  Certificate copy = f.client.certificate;  // shares the object
  CHECK(copy.fingerprint_sha256() == fp);
  unsigned char* der = nullptr;
  const int n = i2d_X509(f.client.certificate.get(), &der);
  REQUIRE(n > 0);
  CHECK(sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n))) == fp);
  OPENSSL_free(der);
  CHECK(f.server.certificate.fingerprint_sha256() != fp);
}

TEST_CASE("copies and moves share the OpenSSL objects safely", "[pki]") {
  const auto& f = fixture();
  KeyPair a = f.client.key;
  KeyPair b = a;
  CHECK(b.get() == a.get());
  KeyPair c = std::move(a);
  CHECK(a.get() == nullptr);
  CHECK(c.get() == b.get());
  a = c;
  CHECK(a.get() == c.get());
  a = a;  // self-assignment keeps the key
  CHECK(a.get() == c.get());
  Certificate x = f.client.certificate;
  Certificate y = std::move(x);
  CHECK(x.get() == nullptr);
  CHECK(x.fingerprint_sha256().empty());  // an empty handle answers, it does not crash
  CHECK(x.common_name().empty());
  CHECK_FALSE(x.is_ca());
  CHECK(y.common_name() == "sensor-0001");
  auto issued = issue_client_certificate(x, f.ca.key, "t");
  CHECK_FALSE(issued);
}

TEST_CASE("bad PEM is an error with OpenSSL's reason, not a prompt or a crash", "[pki]") {
  auto garbage = Certificate::from_pem("not a certificate");
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().find("no PEM certificate found: error:") == 0);
  CHECK_FALSE(KeyPair::from_pem(""));
  CHECK_FALSE(KeyPair::from_pem(std::string_view()));  // a null data pointer
  CHECK_FALSE(Certificate::from_pem(std::string_view()));
  CHECK_FALSE(KeyPair::from_pem(fixture().client.certificate.to_pem()));  // a certificate is not a key

  // An encrypted key must fail at once instead of asking for a passphrase on the terminal.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  static const char passphrase[] = "secret";
  REQUIRE(PEM_write_bio_PrivateKey(bio.get(), fixture().client.key.get(), EVP_aes_256_cbc(),
                                   reinterpret_cast<const unsigned char*>(passphrase), 6, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  auto encrypted = KeyPair::from_pem(std::string(data, static_cast<std::size_t>(n)));
  REQUIRE_FALSE(encrypted);
  CHECK(encrypted.error().find("encrypted keys are not supported") != std::string::npos);
}

// ----------------------------------------------------------------------------------------------------------------
// Refusals

TEST_CASE("issuing refuses bad input with a message that says why", "[pki]") {
  const auto& f = fixture();
  const auto& ca = f.ca.certificate;
  const auto& key = f.ca.key;
  auto error_of = [](const Expected<CertifiedKey>& r) { return r ? std::string("(no error)") : r.error(); };

  auto long_name = issue_client_certificate(ca, key, std::string(65, 'a'));
  CHECK_THAT(error_of(long_name), Catch::Contains("65 bytes; X.509 allows at most 64"));
  CHECK(issue_client_certificate(ca, key, std::string(64, 'a')));
  CHECK_THAT(error_of(issue_client_certificate(ca, key, "")), Catch::Contains("the common name is empty"));
  CHECK_THAT(error_of(create_ca("")), Catch::Contains("cannot issue CA ''"));

  CHECK_THAT(error_of(issue_server_certificate(ca, key, "broker", {})), Catch::Contains("at least one subject alternative name"));
  CHECK_THAT(error_of(issue_server_certificate(ca, key, "broker", {"not a host!"})),
             Catch::Contains("'not a host!' is neither an IP address nor a DNS name"));
  CHECK_THAT(error_of(issue_server_certificate(ca, key, "broker", {"a..b"})), Catch::Contains("neither"));
  CHECK(issue_server_certificate(ca, key, "broker", {"*.broker.local", "10.0.0.1", "fe80::1"}));

  CHECK_THAT(error_of(issue_client_certificate(ca, f.other_ca.key, "t")),
             Catch::Contains("the CA key does not belong to CA certificate 'fleetsim test CA'"));
  CHECK_THAT(error_of(issue_client_certificate(f.client.certificate, f.client.key, "t")),
             Catch::Contains("'sensor-0001' is not a CA certificate"));
  CHECK_THAT(error_of(issue_client_certificate(ca, key, "t", valid_for(std::chrono::seconds(-1)))),
             Catch::Contains("the validity period must be positive"));

  // A CA whose validity has ended (built by hand: create_ca only makes CAs that start now).
  CertifiedKey expired = create_ca("expired CA").value();
  REQUIRE(X509_gmtime_adj(X509_getm_notBefore(expired.certificate.get()), -7200));
  REQUIRE(X509_gmtime_adj(X509_getm_notAfter(expired.certificate.get()), -3600));
  REQUIRE(X509_sign(expired.certificate.get(), expired.key.get(), EVP_sha256()) > 0);
  CHECK_THAT(error_of(issue_client_certificate(expired.certificate, expired.key, "t")),
             Catch::Contains("CA 'expired CA' expired at "));
  CHECK(ERR_peek_error() == 0);  // nothing left behind in OpenSSL's error queue
}

// ----------------------------------------------------------------------------------------------------------------
// Files

TEST_CASE("key files are 0600 and certificate files 0644, whatever the umask", "[pki][files]") {
  const auto& f = fixture();
  TempDir tmp;
  const fs::path dir = tmp.path();
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    INFO("umask " << mask);
    const mode_t old = ::umask(mask);
    const fs::path key_path = dir / ("k" + std::to_string(mask) + ".key");
    const fs::path cert_path = dir / ("c" + std::to_string(mask) + ".pem");
    auto wrote_key = write_private_key(key_path, f.client.key);
    auto wrote_cert = write_certificate(cert_path, f.client.certificate);
    ::umask(old);
    REQUIRE(wrote_key);
    REQUIRE(wrote_cert);
    CHECK(file_mode(key_path) == 0600);
    CHECK(file_mode(cert_path) == 0644);
    CHECK(slurp(key_path) == f.client.key.to_pem());
    CHECK(slurp(cert_path) == f.client.certificate.to_pem());
  }
  // No temporary files are left behind.
  for (const auto& name : directory_entries(dir)) CHECK(name.find(".tmp-") == std::string::npos);
}

TEST_CASE("writing a key replaces a looser file and never follows a link", "[pki][files]") {
  const auto& f = fixture();
  TempDir tmp;
  const fs::path dir = tmp.path();

  const fs::path loose = tmp.write("loose.key", "old");
  ::chmod(loose.c_str(), 0644);
  REQUIRE(write_private_key(loose, f.client.key));
  CHECK(file_mode(loose) == 0600);
  CHECK(slurp(loose) == f.client.key.to_pem());

  const fs::path target = tmp.write("target.txt", "untouched");
  const fs::path link = dir / "link.key";
  fs::create_symlink(target, link);
  REQUIRE(write_private_key(link, f.client.key));
  CHECK(slurp(target) == "untouched");
  CHECK_FALSE(fs::is_symlink(link));
  CHECK(file_mode(link) == 0600);
}

TEST_CASE("files round trip and errors name the path", "[pki][files]") {
  const auto& f = fixture();
  TempDir tmp;
  const fs::path dir = tmp.path();
  REQUIRE(write_private_key(dir / "t.key", f.client.key));
  REQUIRE(write_certificate(dir / "t.pem", f.client.certificate));
  auto key = load_private_key(dir / "t.key");
  auto cert = load_certificate(dir / "t.pem");
  REQUIRE(key);
  REQUIRE(cert);
  CHECK(cert->fingerprint_sha256() == f.client.certificate.fingerprint_sha256());
  CHECK(cert->matches(*key));

  auto missing = load_certificate(dir / "missing.pem");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "cannot read certificate from '" + (dir / "missing.pem").string() + "': No such file or directory");

  auto not_a_key = load_private_key(dir / "t.pem");
  REQUIRE_FALSE(not_a_key);
  CHECK_THAT(not_a_key.error(), Catch::StartsWith("cannot read private key from '" + (dir / "t.pem").string() + "': "));
  CHECK_THAT(not_a_key.error(), Catch::Contains("error:"));  // OpenSSL's own reason follows

  auto no_dir = write_private_key(dir / "nope" / "t.key", f.client.key);
  REQUIRE_FALSE(no_dir);
  CHECK_THAT(no_dir.error(), Catch::StartsWith("cannot write private key to '" + (dir / "nope" / "t.key").string() + "'"));
  CHECK_THAT(no_dir.error(), Catch::EndsWith("No such file or directory"));

  auto huge = tmp.write("huge.pem", std::string(2 << 20, 'x'));
  CHECK_THAT(load_certificate(huge).error(), Catch::Contains("larger than"));
}

// ----------------------------------------------------------------------------------------------------------------
// ensure_local_ca and ensure_thing_certificate

TEST_CASE("ensure_local_ca creates once, then loads", "[pki][files]") {
  TempDir tmp;
  const fs::path dir = fs::path(tmp.path()) / "certs" / "local";
  auto first = ensure_local_ca(dir);
  REQUIRE(first);
  CHECK(file_mode(dir) == 0700);
  CHECK(file_mode(dir / "ca.key") == 0600);
  CHECK(file_mode(dir / "ca.pem") == 0644);
  CHECK(directory_entries(dir) == std::vector<std::string>{"ca.key", "ca.pem"});
  CHECK(first->certificate.common_name() == "fleetsim local CA");
  CHECK(first->certificate.is_ca());
  const FileId key_before = file_id(dir / "ca.key"), cert_before = file_id(dir / "ca.pem");

  auto second = ensure_local_ca(dir);
  REQUIRE(second);
  CHECK(second->certificate.fingerprint_sha256() == first->certificate.fingerprint_sha256());
  CHECK(second->key.to_pem() == first->key.to_pem());
  CHECK(file_id(dir / "ca.key") == key_before);  // not rewritten
  CHECK(file_id(dir / "ca.pem") == cert_before);

  SECTION("a lone file is reported, not replaced") {
    fs::remove(dir / "ca.pem");
    auto lone = ensure_local_ca(dir);
    REQUIRE_FALSE(lone);
    CHECK_THAT(lone.error(), Catch::Contains("found '" + (dir / "ca.key").string() + "' but not '" +
                                             (dir / "ca.pem").string() + "'; delete"));
    CHECK(file_id(dir / "ca.key") == key_before);
  }
  SECTION("a key that does not belong is reported") {
    auto other = create_ca("x");
    REQUIRE(other);
    REQUIRE(write_private_key(dir / "ca.key", other->key));
    CHECK_THAT(ensure_local_ca(dir).error(), Catch::Contains("does not belong to the certificate"));
  }
  SECTION("a leaf certificate in place of the CA is reported") {
    auto leaf = issue_client_certificate(first->certificate, first->key, "t");
    REQUIRE(leaf);
    REQUIRE(write_private_key(dir / "ca.key", leaf->key));
    REQUIRE(write_certificate(dir / "ca.pem", leaf->certificate));
    CHECK_THAT(ensure_local_ca(dir).error(), Catch::Contains("is not a CA certificate"));
  }
  SECTION("a path that is a file is reported") {
    const fs::path file = tmp.write("plain", "x");
    CHECK_THAT(ensure_local_ca(file).error(), Catch::Contains("not a directory"));
  }
}

TEST_CASE("ensure_thing_certificate is idempotent", "[pki][files]") {
  TempDir tmp;
  const fs::path root = tmp.path();
  auto ca = ensure_local_ca(root / "local");
  REQUIRE(ca);
  const fs::path dir = root / "quickstart";

  auto first = ensure_thing_certificate(dir, ca->certificate, ca->key, "sensor-0001");
  REQUIRE(first);
  CHECK(first->certificate.common_name() == "sensor-0001");
  CHECK(file_mode(dir) == 0700);
  CHECK(file_mode(dir / "sensor-0001.key") == 0600);
  CHECK(file_mode(dir / "sensor-0001.pem") == 0644);
  CHECK(verify(first->certificate, ca->certificate, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  const FileId key_before = file_id(dir / "sensor-0001.key"), cert_before = file_id(dir / "sensor-0001.pem");

  auto second = ensure_thing_certificate(dir, ca->certificate, ca->key, "sensor-0001");
  REQUIRE(second);
  CHECK(second->certificate.fingerprint_sha256() == first->certificate.fingerprint_sha256());
  CHECK(second->certificate.matches(first->key));
  CHECK(file_id(dir / "sensor-0001.key") == key_before);
  CHECK(file_id(dir / "sensor-0001.pem") == cert_before);

  SECTION("a certificate from a regenerated CA is reported") {
    auto new_ca = create_ca("fleetsim local CA");
    REQUIRE(new_ca);
    auto stale = ensure_thing_certificate(dir, new_ca->certificate, new_ca->key, "sensor-0001");
    REQUIRE_FALSE(stale);
    CHECK_THAT(stale.error(), Catch::Contains("does not verify against CA 'fleetsim local CA'"));
    CHECK_THAT(stale.error(), Catch::Contains("to issue a new one"));
    CHECK(file_id(dir / "sensor-0001.pem") == cert_before);
  }
  SECTION("empty files, what a crash can leave, count as missing") {
    fs::resize_file(dir / "sensor-0001.key", 0);
    fs::resize_file(dir / "sensor-0001.pem", 0);
    auto again = ensure_thing_certificate(dir, ca->certificate, ca->key, "sensor-0001");
    REQUIRE(again);
    CHECK(again->certificate.fingerprint_sha256() != first->certificate.fingerprint_sha256());
    CHECK(file_mode(dir / "sensor-0001.key") == 0600);
    CHECK(load_certificate(dir / "sensor-0001.pem"));
  }
  SECTION("a lone key is reported") {
    fs::remove(dir / "sensor-0001.pem");
    auto lone = ensure_thing_certificate(dir, ca->certificate, ca->key, "sensor-0001");
    REQUIRE_FALSE(lone);
    CHECK_THAT(lone.error(), Catch::Contains("but not"));
  }
  SECTION("the CA itself is not taken for a thing certificate") {
    auto as_thing = ensure_thing_certificate(root / "local", ca->certificate, ca->key, "ca");
    REQUIRE_FALSE(as_thing);
    CHECK_THAT(as_thing.error(), Catch::Contains("is a CA certificate, not a thing's"));
  }
  SECTION("names that are not thing names are refused before touching the disk") {
    for (const char* bad : {"", "../escape", "a/b", "with space", ".hidden"}) {
      INFO(bad);
      auto r = ensure_thing_certificate(dir, ca->certificate, ca->key, bad);
      REQUIRE_FALSE(r);
      CHECK_THAT(r.error(), Catch::Contains("a thing name here is 1-64 letters"));
    }
    CHECK_FALSE(ensure_thing_certificate(dir, ca->certificate, ca->key, std::string(65, 'a')));
    CHECK(directory_entries(dir) == std::vector<std::string>{"sensor-0001.key", "sensor-0001.pem"});
    CHECK(ensure_thing_certificate(dir, ca->certificate, ca->key, "Group_1:thing-2"));
  }
  SECTION("one key can serve many things") {
    IssueOptions shared{.key = first->key};
    auto a = ensure_thing_certificate(dir, ca->certificate, ca->key, "shared-a", shared);
    auto b = ensure_thing_certificate(dir, ca->certificate, ca->key, "shared-b", shared);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->certificate.fingerprint_sha256() != b->certificate.fingerprint_sha256());
    CHECK(a->certificate.serial_hex() != b->certificate.serial_hex());
    CHECK(a->certificate.matches(first->key));
    CHECK(b->certificate.matches(first->key));
    CHECK(slurp(dir / "shared-a.key") == slurp(dir / "sensor-0001.key"));
  }
}

TEST_CASE("concurrent ensure calls agree on one CA and one certificate", "[pki][files]") {
  TempDir tmp;
  const fs::path dir = fs::path(tmp.path()) / "local";
  constexpr int n = 6;
  std::vector<std::string> ca_fps(n), thing_fps(n), errors;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto ca = ensure_local_ca(dir);
      if (!ca) {
        std::lock_guard lock(m);
        errors.push_back(ca.error());
        return;
      }
      ca_fps[i] = ca->certificate.fingerprint_sha256();
      auto thing = ensure_thing_certificate(dir / "things", ca->certificate, ca->key, "racer");
      if (!thing) {
        std::lock_guard lock(m);
        errors.push_back(thing.error());
        return;
      }
      thing_fps[i] = thing->certificate.fingerprint_sha256();
    });
  for (auto& t : threads) t.join();
  CHECK(errors.empty());
  CHECK(std::set<std::string>(ca_fps.begin(), ca_fps.end()).size() == 1);
  CHECK(std::set<std::string>(thing_fps.begin(), thing_fps.end()).size() == 1);
  auto on_disk = load_certificate(dir / "things" / "racer.pem");
  REQUIRE(on_disk);
  CHECK(on_disk->fingerprint_sha256() == thing_fps[0]);
}

// ----------------------------------------------------------------------------------------------------------------
// Timing (printed, not asserted: capacity fleets issue 10,000 of these)

TEST_CASE("timing: 1,000 client certificates", "[pki][timing]") {
  const auto& f = fixture();
  constexpr int n = 1000;
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point start) {
    return std::chrono::duration<double, std::milli>(clock::now() - start).count();
  };

  std::vector<CertifiedKey> fresh;
  fresh.reserve(n);
  auto start = clock::now();
  for (int i = 0; i < n; ++i) {
    auto issued = issue_client_certificate(f.ca.certificate, f.ca.key, "thing-" + std::to_string(i));
    REQUIRE(issued);
    fresh.push_back(std::move(issued.value()));
  }
  const double fresh_ms = ms_since(start);

  std::vector<CertifiedKey> shared;
  shared.reserve(n);
  const IssueOptions reuse{.key = f.client.key};
  start = clock::now();
  for (int i = 0; i < n; ++i) {
    auto issued = issue_client_certificate(f.ca.certificate, f.ca.key, "thing-" + std::to_string(i), reuse);
    REQUIRE(issued);
    shared.push_back(std::move(issued.value()));
  }
  const double shared_ms = ms_since(start);

  TempDir tmp;
  start = clock::now();
  for (int i = 0; i < n; ++i)
    REQUIRE(ensure_thing_certificate(tmp.path(), f.ca.certificate, f.ca.key, "thing-" + std::to_string(i)));
  const double disk_ms = ms_since(start);
  start = clock::now();
  for (int i = 0; i < n; ++i)
    REQUIRE(ensure_thing_certificate(tmp.path(), f.ca.certificate, f.ca.key, "thing-" + std::to_string(i)));
  const double reload_ms = ms_since(start);

  for (int i : {0, n / 2, n - 1}) {
    CHECK(verify(fresh[i].certificate, f.ca.certificate, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
    CHECK(verify(shared[i].certificate, f.ca.certificate, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  }
  std::printf("pki timing: %d client certificates: fresh EC P-256 keys %.0f ms (%.1f us each); one shared key %.0f ms "
              "(%.1f us each); ensure_thing_certificate to disk %.0f ms, reloading them %.0f ms\n",
              n, fresh_ms, fresh_ms * 1000 / n, shared_ms, shared_ms * 1000 / n, disk_ms, reload_ms);
  std::fflush(stdout);
}
