"""The runner's schedule in the clear: a stand-in for OpenFHE's CKKS context whose
"ciphertexts" are the slot vectors themselves (numpy, f64), so `infer --simulate` checks a
packing (rotations, masks, gaps, scales) on any network in seconds, without encryption.
Levels are not modelled: every value reports level 0."""

import numpy as np


class Values:
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)

    def GetLevel(self):
        return 0

    def SetLength(self, length):
        self.values = self.values[:length]

    def GetRealPackedValue(self):
        return list(self.values)


class Keys:
    publicKey = secretKey = None


class PlainContext:
    """The methods of an OpenFHE CryptoContext the runner calls."""

    def __init__(self, slots):
        self.slots = slots

    def GetRingDimension(self):
        return 2 * self.slots

    def Enable(self, feature):
        pass

    def KeyGen(self):
        return Keys()

    def EvalMultKeyGen(self, secret_key):
        pass

    def EvalRotateKeyGen(self, secret_key, indices):
        pass

    def MakeCKKSPackedPlaintext(self, values, scale_degree=1, level=0):
        return Values(np.pad(np.asarray(values, dtype=np.float64), (0, self.slots - len(values))))

    def Encrypt(self, public_key, plaintext):
        return Values(plaintext.values)

    def Decrypt(self, secret_key, ciphertext):
        return Values(ciphertext.values)

    def EvalRotate(self, ciphertext, offset):
        return Values(np.roll(ciphertext.values, -offset))

    def EvalMult(self, a, b):
        return Values(a.values * (b.values if isinstance(b, Values) else b))

    def EvalAdd(self, a, b):
        return Values(a.values + (b.values if isinstance(b, Values) else b))

    def EvalChebyshevSeries(self, ciphertext, coefficients, a, b):
        # OpenFHE's convention: c_0 / 2 + sum_k>0 c_k T_k on [a, b] = [-1, 1].
        c = np.array(coefficients, dtype=np.float64)
        c[0] /= 2
        return Values(np.polynomial.chebyshev.chebval(ciphertext.values, c))
