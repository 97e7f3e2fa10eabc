// chain_valid_until: how long a verified chain may be remembered — until the earliest notAfter
// of the peer's certificates and of the trust anchor that issued them.
#include "quic/chain_expiry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "rpcnet/certs.h"
#include "support/temp_certificates.h"

namespace rpcnet::quic {
namespace {

using Clock = VerifiedChainCache::Clock;

// One PEM certificate file's DER bytes.
std::vector<unsigned char> der_of(const std::string& pem_path) {
  gnutls_datum_t pem{};
  if (gnutls_load_file(pem_path.c_str(), &pem) != 0) return {};
  gnutls_datum_t der{};
  const int rv = gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der);
  gnutls_free(pem.data);
  if (rv != 0) return {};
  std::vector<unsigned char> out(der.data, der.data + der.size);
  gnutls_free(der.data);
  return out;
}

gnutls_datum_t datum(std::vector<unsigned char>& bytes) {
  return gnutls_datum_t{bytes.data(), static_cast<unsigned>(bytes.size())};
}

Clock::time_point not_after(std::vector<unsigned char>& der) {
  gnutls_x509_crt_t crt = nullptr;
  gnutls_x509_crt_init(&crt);
  const gnutls_datum_t d = datum(der);
  gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER);
  const time_t expiry = gnutls_x509_crt_get_expiration_time(crt);
  gnutls_x509_crt_deinit(crt);
  return Clock::from_time_t(expiry);
}

struct TrustListDeleter {
  void operator()(gnutls_x509_trust_list_st* list) const { gnutls_x509_trust_list_deinit(list, 1); }
};
using TrustList = std::unique_ptr<gnutls_x509_trust_list_st, TrustListDeleter>;

TrustList trust_list_with(const std::string& ca_path) {
  gnutls_x509_trust_list_t list = nullptr;
  if (gnutls_x509_trust_list_init(&list, 0) != 0) return nullptr;
  TrustList owned(list);
  if (!ca_path.empty() &&
      gnutls_x509_trust_list_add_trust_file(list, ca_path.c_str(), nullptr, GNUTLS_X509_FMT_PEM, 0, 0) != 1) {
    return nullptr;
  }
  return owned;
}

// A CA that expires (in 2 hours) long before the server certificate it issued (48 hours).
class ChainExpiryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DevCertificateOptions options;
    options.directory = (dir_.root() / "short-lived-ca").string();
    options.valid_for = std::chrono::hours(48);
    options.ca_valid_for = std::chrono::hours(2);
    auto made = make_dev_certificates(options);
    ASSERT_TRUE(made) << made.error();
    paths_ = *made;
    leaf_ = der_of(paths_.server_cert);
    ca_ = der_of(paths_.ca_cert);
    ASSERT_FALSE(leaf_.empty());
    ASSERT_FALSE(ca_.empty());
    ASSERT_LT(not_after(ca_), not_after(leaf_));
  }

  rpcnet::testing::TempCertificateDirectory dir_{"rpcnet-chain-expiry"};
  DevCertificatePaths paths_;
  std::vector<unsigned char> leaf_;
  std::vector<unsigned char> ca_;
};

TEST_F(ChainExpiryTest, AChainEndsWhenTheAnchorThatIssuedItExpires) {
  TrustList anchors = trust_list_with(paths_.ca_cert);
  ASSERT_NE(anchors, nullptr);
  const gnutls_datum_t chain[] = {datum(leaf_)};
  EXPECT_EQ(chain_valid_until(chain, 1, anchors.get()), not_after(ca_));
}

TEST_F(ChainExpiryTest, WithoutItsAnchorOnlyThePeersCertificatesCount) {
  const gnutls_datum_t chain[] = {datum(leaf_)};
  EXPECT_EQ(chain_valid_until(chain, 1, nullptr), not_after(leaf_));
  TrustList unrelated = trust_list_with("");
  ASSERT_NE(unrelated, nullptr);
  EXPECT_EQ(chain_valid_until(chain, 1, unrelated.get()), not_after(leaf_));
}

TEST_F(ChainExpiryTest, ACertificateThePeerSentCountsWhereverItIsInTheChain) {
  const gnutls_datum_t chain[] = {datum(leaf_), datum(ca_)};
  EXPECT_EQ(chain_valid_until(chain, 2, nullptr), not_after(ca_));
}

TEST_F(ChainExpiryTest, AChainWithACertificateThatDoesNotParseIsNotRemembered) {
  std::vector<unsigned char> garbage(64, 0x30);
  const gnutls_datum_t chain[] = {datum(leaf_), datum(garbage)};
  TrustList anchors = trust_list_with(paths_.ca_cert);
  EXPECT_EQ(chain_valid_until(chain, 2, anchors.get()), std::nullopt);
  EXPECT_EQ(chain_valid_until(chain, 0, anchors.get()), std::nullopt);
}

}  // namespace
}  // namespace rpcnet::quic
